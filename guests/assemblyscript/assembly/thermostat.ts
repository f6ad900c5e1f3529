// thermostat.ts: the thermostat rule of guests/examples/thermostat, in AssemblyScript on the
// SDK in palisade.ts.
//
// Same entry point (`decide`), input, output, kv state and log lines as the Rust guest, so the
// modules are interchangeable: tests/guests/main.rs runs the Rust, C and AssemblyScript builds on
// the same readings and compares every output. Capabilities needed: `log`, `kv.read`, `kv.write`.
//
// Input: 4 bytes (temperature, i32 LE milli-°C) or 8 (temperature, setpoint). Any other length
// is the guest error 2 (BAD_INPUT). Output: 1 byte of flags, bit 0 heat, 1 cool, 2 alarm.
// State: key `thermostat`, 9 bytes: mode u8 (0 idle, 1 heating, 2 cooling), last reading i32 LE,
// readings u32 LE; a missing or malformed value starts from idle.
import {
  BAD_INPUT, E_NOT_FOUND, LogLevel, capErrorStr, error, kv_get, kv_set, logStr, output, utf8,
} from "./palisade";

export { palisade_alloc } from "./palisade";

const HEAT: u8 = 1;
const COOL: u8 = 2;
const ALARM: u8 = 4;
const DEFAULT_SETPOINT: i32 = 21_000;
const HYSTERESIS: i32 = 500;
const ALARM_LOW: i32 = 5_000;
const ALARM_HIGH: i32 = 35_000;
const ALARM_JUMP: u32 = 5_000;

const IDLE: u8 = 0;
const HEATING: u8 = 1;
const COOLING: u8 = 2;

function saturatingAdd(a: i32, b: i32): i32 {
  const r = <i64>a + <i64>b;
  return r > <i64>i32.MAX_VALUE ? i32.MAX_VALUE : r < <i64>i32.MIN_VALUE ? i32.MIN_VALUE : <i32>r;
}

function absDiff(a: i32, b: i32): u32 {
  return a > b ? <u32>a - <u32>b : <u32>b - <u32>a;
}

/** The rule: see the header comment for the encoding. */
export function decide(ptr: usize, len: usize): i32 {
  let temp: i32;
  let setpoint: i32;
  if (len == 4) {
    temp = load<i32>(ptr);
    setpoint = DEFAULT_SETPOINT;
  } else if (len == 8) {
    temp = load<i32>(ptr);
    setpoint = load<i32>(ptr, 4);
  } else {
    return error(
      BAD_INPUT,
      "expected 4 bytes (temperature, i32 LE milli-°C) or 8 (temperature, setpoint)",
    );
  }

  const key = utf8("thermostat");
  const state = new ArrayBuffer(9);
  const s = changetype<usize>(state);
  let mode = IDLE;
  let last: i32 = 0;
  let readings: u32 = 0;
  const got = kv_get(changetype<usize>(key), key.byteLength, s, 9);
  if (got == 9) {
    const m = load<u8>(s);
    mode = m == HEATING ? HEATING : m == COOLING ? COOLING : IDLE;
    last = load<i32>(s, 1);
    readings = load<u32>(s, 5);
  } else if (got < 0 && got != E_NOT_FOUND) {
    return error(got, capErrorStr(got));
  }

  let next: u8;
  if (mode == HEATING && temp < setpoint) {
    next = HEATING;
  } else if (mode == COOLING && temp > setpoint) {
    next = COOLING;
  } else if (temp < saturatingAdd(setpoint, -HYSTERESIS)) {
    next = HEATING;
  } else if (temp > saturatingAdd(setpoint, HYSTERESIS)) {
    next = COOLING;
  } else {
    next = IDLE;
  }
  const jump = readings > 0 && absDiff(temp, last) > ALARM_JUMP;
  const alarm = temp < ALARM_LOW || temp > ALARM_HIGH || jump;

  // A full log budget must not stop the rule: the line is dropped, the decision stands.
  if (next != mode) {
    logStr(
      LogLevel.Info,
      next == HEATING ? "thermostat: heating on" : next == COOLING ? "thermostat: cooling on" : "thermostat: idle",
    );
  }
  if (alarm) {
    logStr(LogLevel.Warn, "thermostat: alarm");
  }

  store<u8>(s, next);
  store<i32>(s, temp, 1);
  store<u32>(s, readings == u32.MAX_VALUE ? readings : readings + 1, 5);
  const set = kv_set(changetype<usize>(key), key.byteLength, s, 9);
  if (set != 0) {
    return error(set, capErrorStr(set));
  }

  const flags: u8 = (next == HEATING ? HEAT : next == COOLING ? COOL : 0) | (alarm ? ALARM : 0);
  const out = changetype<usize>(new ArrayBuffer(1));
  store<u8>(out, flags);
  output(out, 1);
  return 0;
}
