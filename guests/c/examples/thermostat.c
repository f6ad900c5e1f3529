/*
 * thermostat.c: the thermostat rule of guests/examples/thermostat, in C on palisade.h.
 *
 * Same entry point (`decide`), input, output, kv state and log lines as the Rust guest, so the
 * two modules are interchangeable: tests/guests/main.rs runs both on the same readings and
 * compares every output. Capabilities needed: `log`, `kv.read`, `kv.write`.
 *
 * Input: 4 bytes (temperature, i32 LE milli-°C) or 8 (temperature, setpoint). Any other length is
 * the guest error 2 (BAD_INPUT). Output: 1 byte of flags, bit 0 heat, 1 cool, 2 alarm.
 * State: key `thermostat`, 9 bytes: mode u8 (0 idle, 1 heating, 2 cooling), last reading i32 LE,
 * readings u32 LE; a missing or malformed value starts from idle.
 *
 * Built by guests/artifacts/build.rs:
 *   clang --target=wasm32 -nostdlib -O2 -Wl,--no-entry -I guests/c thermostat.c
 */
#include "palisade.h"

#define HEAT 1
#define COOL 2
#define ALARM 4
#define DEFAULT_SETPOINT 21000
#define HYSTERESIS 500
#define ALARM_LOW 5000
#define ALARM_HIGH 35000
#define ALARM_JUMP 5000

enum mode { IDLE = 0, HEATING = 1, COOLING = 2 };

static const char STATE_KEY[] = "thermostat";
#define STATE_KEY_LEN (sizeof STATE_KEY - 1)

/* Every possible output, so that the output needs no allocation. */
static const uint8_t OUTPUTS[8] = {0, 1, 2, 3, 4, 5, 6, 7};

static int32_t read_i32(const uint8_t *p) {
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
}

static void write_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* |a - b| without overflow. */
static uint32_t abs_diff(int32_t a, int32_t b) {
    return a > b ? (uint32_t)a - (uint32_t)b : (uint32_t)b - (uint32_t)a;
}

static int32_t saturating_add(int32_t a, int32_t b) {
    int32_t r;
    return __builtin_add_overflow(a, b, &r) ? (b > 0 ? INT32_MAX : INT32_MIN) : r;
}

PALISADE_ENTRY(decide)(const uint8_t *in, size_t len) {
    int32_t temp, setpoint;
    if (len == 4) {
        temp = read_i32(in);
        setpoint = DEFAULT_SETPOINT;
    } else if (len == 8) {
        temp = read_i32(in);
        setpoint = read_i32(in + 4);
    } else {
        return palisade_error(PALISADE_BAD_INPUT, "expected 4 bytes (temperature, i32 LE "
                                                  "milli-°C) or 8 (temperature, setpoint)");
    }

    uint8_t state[9];
    enum mode mode = IDLE;
    int32_t last = 0;
    uint32_t readings = 0;
    int32_t got = palisade_kv_get(STATE_KEY, STATE_KEY_LEN, state, sizeof state);
    if (got == (int32_t)sizeof state) {
        mode = state[0] == 1 ? HEATING : state[0] == 2 ? COOLING : IDLE;
        last = read_i32(state + 1);
        readings = (uint32_t)read_i32(state + 5);
    } else if (got < 0 && got != PALISADE_ENOT_FOUND) {
        return palisade_error(got, palisade_strerror(got));
    }

    enum mode next;
    if (mode == HEATING && temp < setpoint) {
        next = HEATING;
    } else if (mode == COOLING && temp > setpoint) {
        next = COOLING;
    } else if (temp < saturating_add(setpoint, -HYSTERESIS)) {
        next = HEATING;
    } else if (temp > saturating_add(setpoint, HYSTERESIS)) {
        next = COOLING;
    } else {
        next = IDLE;
    }
    int jump = readings > 0 && abs_diff(temp, last) > ALARM_JUMP;
    int alarm = temp < ALARM_LOW || temp > ALARM_HIGH || jump;

    /* A full log budget must not stop the rule: the line is dropped, the decision stands. */
    if (next != mode) {
        palisade_log_str(PALISADE_LOG_INFO, next == HEATING   ? "thermostat: heating on"
                                            : next == COOLING ? "thermostat: cooling on"
                                                              : "thermostat: idle");
    }
    if (alarm) {
        palisade_log_str(PALISADE_LOG_WARN, "thermostat: alarm");
    }

    state[0] = (uint8_t)next;
    write_u32(state + 1, (uint32_t)temp);
    write_u32(state + 5, readings == UINT32_MAX ? readings : readings + 1);
    int32_t set = palisade_kv_set(STATE_KEY, STATE_KEY_LEN, state, sizeof state);
    if (set != 0) {
        return palisade_error(set, palisade_strerror(set));
    }

    uint8_t flags = (next == HEATING ? HEAT : next == COOLING ? COOL : 0) | (alarm ? ALARM : 0);
    palisade_output(&OUTPUTS[flags], 1);
    return 0;
}
