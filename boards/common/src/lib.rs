//! What every Palisade QEMU board shares: the control loop ([`run`]), the scenario harness
//! ([`scenario`]: descriptor, per-tick checks, verdicts as semihosting exit codes), the counting
//! heap ([`HEAP`]) and the simulated thermometer ([`SimThermometer`]).
//!
//! A board package (`boards/<board>`) supplies only what differs between chips: its monotonic
//! timer, its two LED outputs and their read-back, how it sleeps until a deadline, and where its
//! rule slots and scenario descriptor lie ([`Layout`]). Its `main` is then
//! `palisade_board_common::exit(palisade_board_common::run(MyBoard::new()))`, so the Cortex-M4
//! and the RISC-V firmware run the same loop and are judged by the same scenarios.
//!
//! The control loop ticks a rule every period under a fuel budget, a deadline on the board's
//! timer and a memory cap. The rule is a signed bundle read from its own flash slot (not
//! linked into the firmware): the active slot first, then the fallback (last good) slot; if
//! neither verifies, the LEDs stay at their safe default (off) and the loop keeps its period.
//!
//! The rule's entry (`tick`, or `decide` for a pure rule) receives the sensor reading
//! (channel 0, an `i32` LE, milli-°C) as input. It may drive the LEDs itself (capability
//! `gpio`, pins 0-1) and read the sensor (`sensor`), keep state in `kv`, and log; a pure rule
//! may instead return one output byte whose bits 0-1 the firmware writes to LED pins 0-1.
//!
//! | feature | what |
//! |---|---|
//! | `scenarios` | the QEMU scenario harness; without it (a product build) the loop runs forever |
//! | `wasi` | the core's WASI preview1 profile, for measuring its flash cost |
//! | `validate` (default) | the core's validator: every rule is validated at boot |
//! | `prevalidated` | no validator: only rules signed by the trusted key whose manifest records the packer's validation run (`docs/EMBEDDED.md`); needs `--no-default-features` |
#![no_std]
#![deny(missing_docs)]

#[cfg(all(feature = "prevalidated", feature = "validate"))]
compile_error!(
    "`prevalidated` builds the firmware without the validator: build with `--no-default-features --features prevalidated` (a board's default features include `validate`)"
);
#[cfg(not(any(feature = "validate", feature = "prevalidated")))]
compile_error!(
    "choose the validating firmware (feature `validate`, the default) or the pre-validated one (`prevalidated`)"
);
// Feature unification could bring the validator back through another dependency.
#[cfg(feature = "prevalidated")]
const _: () = assert!(
    !palisade::VALIDATE,
    "a `prevalidated` firmware must not link the validator: a dependency enables `palisade/validate`"
);

extern crate alloc;

mod heap;
#[cfg(not(feature = "scenarios"))]
#[path = "no_scenario.rs"]
pub mod scenario;
#[cfg(feature = "scenarios")]
pub mod scenario;
mod sim;
mod stack;

use alloc::sync::Arc;
use core::time::Duration;

use embedded_hal::digital::OutputPin;
use palisade::{Clock, Limits, MemoryKv, PublicKey, Runtime, StackLimits, TrustStore};
use palisade_mcu::{
    BundleSlot, DefmtLog, Gpio, MonotonicTimer, PinSet, Sensors, TimerClock, load_first_good,
};

pub use heap::{ClassUse, CountingHeap, HEAP_BYTES, SIZE_CLASSES};
pub use scenario::Verdict;
pub use sim::SimThermometer;

use scenario::Scenario;

/// The global allocator of every board: a linked-list heap of [`HEAP_BYTES`] that counts bytes
/// in use and the high-water mark. [`run`] initialises it.
#[global_allocator]
pub static HEAP: CountingHeap = CountingHeap::empty();

/// Where a board keeps its rule slots and the scenario descriptor (addresses in its flash, or
/// whatever memory stands in for flash under QEMU).
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// The active rule slot.
    pub active_slot: usize,
    /// The fallback (last good) rule slot.
    pub fallback_slot: usize,
    /// Bytes in each slot.
    pub slot_bytes: usize,
    /// The scenario descriptor (QEMU test runs only; see [`scenario`]).
    pub scenario: usize,
}

impl Layout {
    /// Whether the rule slots are where a real board's linker script put them: both slots at
    /// the addresses it exports, each at least [`slot_bytes`](Self::slot_bytes) long.
    #[must_use]
    pub fn matches(&self, linker: LinkerSlots) -> bool {
        linker.active == self.active_slot
            && linker.fallback == self.fallback_slot
            && linker
                .fallback
                .checked_sub(linker.active)
                .is_some_and(|n| n >= self.slot_bytes)
            && linker
                .end
                .checked_sub(linker.fallback)
                .is_some_and(|n| n >= self.slot_bytes)
    }
}

/// Where a real board's linker script (its memory.x) put the rule slots: the addresses of its
/// symbols `__palisade_rule_active`, `__palisade_rule_fallback` and `__palisade_rule_end`, read
/// by [`linker_slots!`].
#[derive(Debug, Clone, Copy)]
pub struct LinkerSlots {
    /// The active slot's first byte.
    pub active: usize,
    /// The fallback slot's first byte.
    pub fallback: usize,
    /// The first byte past the fallback slot.
    pub end: usize,
}

/// The rule-slot symbols of the firmware's linker script, as [`LinkerSlots`]. Use it in a board
/// whose memory.x defines them (the real boards); elsewhere the link fails.
#[macro_export]
macro_rules! linker_slots {
    () => {{
        unsafe extern "C" {
            static __palisade_rule_active: u8;
            static __palisade_rule_fallback: u8;
            static __palisade_rule_end: u8;
        }
        $crate::LinkerSlots {
            active: ::core::ptr::addr_of!(__palisade_rule_active) as usize,
            fallback: ::core::ptr::addr_of!(__palisade_rule_fallback) as usize,
            end: ::core::ptr::addr_of!(__palisade_rule_end) as usize,
        }
    }};
}

/// The firmware of a real board: if the board's [`Board::LAYOUT`] is where the linker put the
/// rule slots, makes the board and runs the control loop; logs why it stopped. A product build
/// returns only if setup fails or the layouts disagree (then no board peripheral is touched);
/// the caller then sleeps.
pub fn run_from_flash<B: Board>(make_board: impl FnOnce() -> B, linker: LinkerSlots) {
    if B::LAYOUT.matches(linker) {
        let verdict = run(make_board());
        defmt::error!("control loop stopped: {}; no rule runs", verdict);
    } else {
        defmt::error!("the board's LAYOUT does not match memory.x: no rule runs");
    }
}

/// The `gpio` bank the rule drives: LEDs on pins 0-1 and up to two inputs a board adds
/// ([`Board::add_inputs`]); one tenant.
pub type BoardGpio = Gpio<4, 1>;

/// What a board supplies to the shared control loop.
pub trait Board {
    /// The board's free-running monotonic timer.
    type Timer: MonotonicTimer + 'static;
    /// One LED output (embedded-hal).
    type Led: OutputPin + Send + 'static;
    /// Where the rule slots and the scenario descriptor are. Every address must be mapped,
    /// readable, and never written by the firmware.
    const LAYOUT: Layout;

    /// Starts the timer. Called once.
    fn timer(&mut self) -> Self::Timer;
    /// LED `n` (0 or 1). Called once per LED.
    fn led(&mut self, n: u8) -> Self::Led;
    /// Reads the LEDs back (bits 0-1) from the hardware, for the scenario checks.
    fn led_register(&self) -> u32;
    /// The stack region, `(lowest address, initial stack pointer)`, from the runtime's linker
    /// symbols: [`run`] paints it to measure the stack high-water.
    fn stack(&self) -> (usize, usize);
    /// Waits until `timer` reaches tick `due`. The default spins; a board that can sleep
    /// (`wfi` until a timer interrupt) overrides it.
    fn wait_until(&mut self, timer: &Self::Timer, due: u64) {
        while timer.ticks() < due {}
    }

    /// Adds the board's inputs (buttons) to `gpio` as pins 2 and 3 and returns the pins added:
    /// the rule may read them with `gpio_read`. The default (the QEMU boards, which emulate no
    /// button) adds none.
    fn add_inputs(&mut self, gpio: &BoardGpio) -> PinSet {
        let _ = gpio;
        PinSet::EMPTY
    }
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

fn slot(name: &'static str, addr: usize, len: usize) -> BundleSlot {
    // SAFETY: `Board::LAYOUT` promises that the slot is mapped, readable and never written.
    let region = unsafe { core::slice::from_raw_parts(addr as *const u8, len) };
    BundleSlot::new(name, region)
}

/// Ends the run: the verdict becomes the semihosting exit code (QEMU's exit code).
pub fn exit(verdict: Verdict) -> ! {
    defmt::info!("verdict: {}", verdict);
    semihosting::process::exit(verdict as i32)
}

/// The control loop: sets up the runtime, loads the first good rule and ticks it every period.
/// Returns only when a scenario ends (its verdict) or setup fails; a product build without a
/// scenario loops forever.
pub fn run<B: Board>(mut board: B) -> Verdict {
    let (stack_bottom, stack_top) = board.stack();
    stack::paint(stack_bottom);
    HEAP.init();
    let layout = B::LAYOUT;
    let scenario = Scenario::read(layout.scenario);
    let clock = Arc::new(TimerClock(board.timer()));

    let gpio: BoardGpio = Gpio::new();
    if gpio.add_output(0, board.led(0)).is_err()
        || gpio.add_output(1, board.led(1)).is_err()
        || gpio
            .allow(RULE_TENANT, PinSet(RULE_PINS.0 | board.add_inputs(&gpio).0))
            .is_err()
    {
        return Verdict::Setup;
    }
    gpio.write(0, false);
    gpio.write(1, false);
    let sensors = Sensors::new(SimThermometer::default());

    let builder = Runtime::builder(clock.clone())
        .log_sink(Arc::new(DefmtLog))
        .kv_store(Arc::new(MemoryKv::with_quota(1024)))
        .max_module_bytes(layout.slot_bytes)
        // A small interpreter stack: the heap is 32 KiB and the thermostat target 16 KiB.
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
        slot("active", layout.active_slot, layout.slot_bytes),
        slot("fallback", layout.fallback_slot, layout.slot_bytes),
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
    let hz = u128::from(clock.timer().tick_hz());
    let period_ticks = u64::try_from(period.as_nanos() * hz / 1_000_000_000).unwrap_or(u64::MAX);
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
    let start_ticks = clock.timer().ticks();
    let mut k: u32 = 0;
    // Period slots since `start`. A tick that overruns its period skips the slots it missed
    // instead of running the next ticks back to back.
    let mut slot: u32 = 0;
    let mut missed: u32 = 0;
    // Time spent waiting for the next period (sleeping, or spinning on a board that cannot
    // sleep): the rest of the run is the loop's busy time.
    let mut waited = Duration::ZERO;
    loop {
        if scenario.ticks.is_some_and(|n| k >= n) {
            break;
        }
        let due = start.saturating_add(period * slot);
        let wait_started = clock.now();
        board.wait_until(
            clock.timer(),
            start_ticks.saturating_add(period_ticks.saturating_mul(u64::from(slot))),
        );
        waited += clock.now().saturating_since(wait_started);
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
        let leds = board.led_register() & 0b11;
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
    let elapsed = clock.now().saturating_since(start);
    stats.print(
        heap_before_load,
        waited,
        elapsed,
        stack::high_water(stack_bottom, stack_top),
    );
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
