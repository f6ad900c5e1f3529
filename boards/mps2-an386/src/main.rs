//! Palisade on the Arm MPS2 AN386 (Cortex-M4F) under QEMU.
//!
//! A control loop ticks a rule every period under a fuel budget, a deadline on the board's
//! timer and a memory cap. The rule is a signed bundle read from its own flash slot (not
//! linked into this firmware): the active slot first, then the fallback (last good) slot; if
//! neither verifies, the LEDs stay at their safe default (off) and the loop keeps its period.
//!
//! The rule's entry (`tick`, or `decide` for a pure rule) receives the sensor reading
//! (channel 0, an `i32` LE, milli-°C) as input. It may drive the LEDs itself (capability `gpio`, pins 0-1) and read the sensor
//! (`sensor`), keep state in `kv`, and log; a pure rule may instead return one output byte
//! whose bits 0-1 the firmware writes to LED pins 0-1.
//!
//! Under QEMU a scenario descriptor (see [`scenario`]) turns a run into a test: N ticks,
//! checked every tick against the LED register and the call's outcome; the verdict is the
//! semihosting exit code.
#![no_std]
#![no_main]

extern crate alloc;

mod board;
mod heap;
#[cfg(not(feature = "scenarios"))]
#[path = "no_scenario.rs"]
mod scenario;
#[cfg(feature = "scenarios")]
mod scenario;

use alloc::sync::Arc;
use core::time::Duration;

use cortex_m as _; // the critical-section implementation
use cortex_m_rt::entry;
use defmt_semihosting as _;
use palisade::{Clock, Limits, MemoryKv, PublicKey, Runtime, StackLimits, TrustStore};
use palisade_mcu::{BundleSlot, DefmtLog, Gpio, PinSet, Sensors, TimerClock, load_first_good};

use board::{LedPin, SimThermometer, Timer0};
use scenario::{Scenario, Verdict};

#[global_allocator]
static HEAP: heap::CountingHeap = heap::CountingHeap::empty();

/// Flash layout (memory.x keeps the firmware below 0x0030_0000).
mod layout {
    pub const ACTIVE_SLOT: usize = 0x0030_0000;
    pub const FALLBACK_SLOT: usize = 0x0038_0000;
    pub const SLOT_BYTES: usize = 0x7_F000;
    pub const SCENARIO: usize = 0x003F_F000;
}

/// The tenant every rule runs as, and the pins it may drive.
const RULE_TENANT: &str = "rule";
const RULE_PINS: PinSet = PinSet::of(&[0, 1]);

/// The one key rules are signed with. A development key: its secret is
/// `[0x50; 32]`, in hosts/mcu/examples/pack_rule.rs (`pack_rule pubkey` prints this). A product
/// embeds its own.
const TRUSTED_KEY: PublicKey = PublicKey::from_bytes([
    0x3e, 0xf0, 0x89, 0x59, 0x03, 0x30, 0x28, 0xc8, 0xfc, 0x6f, 0xc6, 0xd4, 0x91, 0xa1, 0x25, 0x48,
    0xe7, 0x8d, 0xf6, 0xae, 0xfb, 0x2d, 0x7c, 0x2c, 0x19, 0x0c, 0x3f, 0x78, 0xce, 0xf3, 0xf5, 0x0b,
]);

/// Defaults of the control loop.
const PERIOD: Duration = Duration::from_millis(50);
const FUEL: u64 = 20_000;
const FUEL_SLICE: u64 = 2_000;
const DEADLINE: Duration = Duration::from_millis(30);
const MEMORY_CAP: usize = 8 * 1024;

fn slot(name: &'static str, addr: usize) -> BundleSlot {
    // SAFETY: the slot lies in the 4 MiB flash region, which is always mapped and which this
    // firmware never writes.
    let region = unsafe { core::slice::from_raw_parts(addr as *const u8, layout::SLOT_BYTES) };
    BundleSlot::new(name, region)
}

#[entry]
fn main() -> ! {
    HEAP.init();
    let verdict = run();
    defmt::info!("verdict: {}", verdict);
    semihosting::process::exit(verdict as i32)
}

fn run() -> Verdict {
    let scenario = Scenario::read(layout::SCENARIO);
    let clock = Arc::new(TimerClock(Timer0::start()));

    let gpio: Gpio<2, 1> = Gpio::new();
    if gpio.add_output(0, LedPin::new(0)).is_err()
        || gpio.add_output(1, LedPin::new(1)).is_err()
        || gpio.allow(RULE_TENANT, RULE_PINS).is_err()
    {
        return Verdict::Setup;
    }
    gpio.write(0, false);
    gpio.write(1, false);
    let sensors = Sensors::new(SimThermometer::default());

    let builder = Runtime::builder(clock.clone())
        .log_sink(Arc::new(DefmtLog))
        .kv_store(Arc::new(MemoryKv::with_quota(1024)))
        .max_module_bytes(layout::SLOT_BYTES)
        // A small interpreter stack: the heap is 64 KiB and the thermostat target 16 KiB.
        .stack_limits(StackLimits::small_footprint());
    let Ok(runtime) = sensors.register(gpio.register(builder)).build() else {
        return Verdict::Setup;
    };
    let limits = Limits::builder()
        .fuel(scenario.fuel.unwrap_or(FUEL))
        .fuel_slice(FUEL_SLICE)
        .deadline(scenario.deadline.unwrap_or(DEADLINE))
        .memory_bytes(MEMORY_CAP)
        .input_bytes(16)
        .output_bytes(64)
        .log_bytes(256)
        .kv_value_bytes(64)
        .kv_write_bytes(256)
        .calls_per_second(0)
        .build();
    let Ok(tenant) = runtime
        .tenant(RULE_TENANT)
        .grant_all(["gpio", "sensor", "log", "kv.read", "kv.write"])
        .limits(limits)
        .build()
    else {
        return Verdict::Setup;
    };
    let mut trust = TrustStore::require_signatures();
    if trust.add_key(&TRUSTED_KEY).is_err() {
        return Verdict::Setup;
    }

    let heap_before_load = HEAP.used();
    let load_started = clock.now();
    let slots = [
        slot("active", layout::ACTIVE_SLOT),
        slot("fallback", layout::FALLBACK_SLOT),
    ];
    let rule = load_first_good(&slots, &runtime, &trust, &tenant, |slot, e| {
        defmt::warn!("slot {=str} refused: {}", slot.name(), e);
    });
    let load_time = clock.now().saturating_since(load_started);
    match &rule {
        Some(r) => defmt::info!(
            "rule {=str} {=str} from slot {=str} ({=usize} bytes), verified + compiled in {=u64} us",
            r.bundle.manifest().name(),
            r.bundle.manifest().version(),
            r.slot,
            r.bundle.bundle().len(),
            load_time.as_micros() as u64
        ),
        None => defmt::warn!("no good rule: LEDs stay at the safe default (off)"),
    }
    if let Err(v) = scenario.check_source(rule.as_ref().map(|r| r.slot)) {
        return v;
    }

    let period = scenario.period.unwrap_or(PERIOD);
    let mut stats = scenario::Stats::default();
    let mut heater = false;
    let mut guest_model = scenario::GuestModel::default();
    // Rules that drive the pins themselves export `tick`; pure rules (the `thermostat` guest)
    // export `decide` and return LED flags.
    let entry = match &rule {
        Some(r) if !r.module.info().has_entry("tick") => "decide",
        _ => "tick",
    };
    let start = clock.now();
    let mut k: u32 = 0;
    // Period slots since `start`. A tick that overruns its period skips the slots it missed
    // instead of running the next ticks back to back.
    let mut slot: u32 = 0;
    let mut missed: u32 = 0;
    loop {
        if scenario.ticks.is_some_and(|n| k >= n) {
            break;
        }
        let due = start.saturating_add(period * slot);
        while clock.now() < due {}
        let lateness = clock.now().saturating_since(due);
        sensors.with(|s| s.set_tick(k));
        let reading = SimThermometer::reading_at(k);

        let report = match &rule {
            Some(r) => {
                let call =
                    runtime.call_with(&r.module, &tenant, entry, &reading.to_le_bytes(), |out| {
                        out.first().copied()
                    });
                if let Ok(Some(byte)) = call.result {
                    gpio.write(0, byte & 1 != 0);
                    gpio.write(1, byte & 2 != 0);
                }
                if k < 3 {
                    defmt::info!(
                        "tick {=u32}: {=str}, fuel {=u64}, wall {=u64} us",
                        k,
                        call.report.outcome.as_str(),
                        call.report.fuel_used,
                        call.report.wall_time.as_micros() as u64
                    );
                }
                if let Err(e) = &call.result {
                    defmt::debug!("tick {=u32}: {=str}", k, e.outcome().as_str());
                }
                Some(call.report)
            }
            None => None,
        };
        let leds = board::led_register() & 0b11;
        heater = scenario::thermostat(reading, heater);
        guest_model = guest_model.step(reading);
        let tick = scenario::Tick {
            k,
            reading,
            leds,
            expected_heater: heater,
            expected_guest: guest_model.leds(),
            report,
            lateness,
            first: k == 0,
        };
        stats.record(&tick, HEAP.peak(), HEAP.used());
        if let Err(v) = scenario.check_tick(&tick, period, MEMORY_CAP) {
            defmt::error!(
                "tick {=u32} failed: leds={=u32:b} outcome={=str}",
                tick.k,
                leds,
                report.map_or("none", |r| r.outcome.as_str())
            );
            return v;
        }
        k = k.wrapping_add(1);
        let elapsed = clock.now().saturating_since(start).as_nanos();
        let next = u32::try_from(elapsed / period.as_nanos().max(1) + 1).unwrap_or(u32::MAX);
        let skipped = next.saturating_sub(slot + 1);
        missed = missed.saturating_add(skipped);
        if skipped > 0 && k > 1 && scenario.ticks.is_some() {
            defmt::error!("tick {=u32} overran its period", k - 1);
            return Verdict::Period;
        }
        slot = next.max(slot + 1);
    }
    stats.print(heap_before_load);
    defmt::info!(
        "periods missed: {=u32} (the first tick translates the rule lazily)",
        missed
    );
    Verdict::Pass
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Never format PanicInfo on the board: it pulls in core::fmt (~114 KiB).
    defmt::error!("panic");
    semihosting::process::exit(Verdict::Panic as i32)
}

#[defmt::panic_handler]
fn defmt_panic() -> ! {
    semihosting::process::exit(Verdict::Panic as i32)
}

#[cortex_m_rt::exception]
unsafe fn HardFault(_frame: &cortex_m_rt::ExceptionFrame) -> ! {
    semihosting::process::exit(Verdict::HardFault as i32)
}
