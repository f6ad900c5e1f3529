//! Palisade on QEMU's RISC-V `virt` machine (riscv32imac, machine mode, no OpenSBI).
//!
//! The control loop, the scenario harness and the heap are shared with the Cortex-M4 board
//! (`boards/common`, [`palisade_board_common::run`]); this firmware supplies what `virt` has:
//!
//! - the CLINT's `mtime` (0x0200_BFF8, 64-bit, 10 MHz) as the monotonic clock, and its
//!   `mtimecmp` (0x0200_4000) to sleep (`wfi`) until the next period;
//! - two LEDs as a latch word in RAM: `virt` models no GPIO, so the pins are embedded-hal
//!   `OutputPin`s over that word and the scenario checks read it back;
//! - defmt frames over semihosting stdout, and the verdict as the semihosting exit code.
#![no_std]
#![no_main]

use core::cell::UnsafeCell;
use core::convert::Infallible;
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use palisade_board_common::{Board, Layout, Verdict};
use palisade_mcu::MonotonicTimer;

/// Rule slots and scenario descriptor in the DRAM that stands in for flash (memory.x).
const LAYOUT: Layout = Layout {
    active_slot: 0x8030_0000,
    fallback_slot: 0x8038_0000,
    slot_bytes: 0x7_F000,
    scenario: 0x803F_F000,
};

/// CLINT `mtime` (64-bit) and hart 0's `mtimecmp`.
const MTIME: usize = 0x0200_BFF8;
const MTIMECMP: usize = 0x0200_4000;
/// `virt`'s timebase frequency (its device tree's `timebase-frequency`).
const MTIME_HZ: u32 = 10_000_000;

/// The LED latch (bits 0-1).
static LEDS: AtomicU32 = AtomicU32::new(0);

/// One LED (bit `0` or `1` of the latch) as an embedded-hal output pin.
#[derive(Debug)]
pub struct LedPin(u8);

impl embedded_hal::digital::ErrorType for LedPin {
    type Error = Infallible;
}

impl embedded_hal::digital::OutputPin for LedPin {
    fn set_low(&mut self) -> Result<(), Infallible> {
        LEDS.fetch_and(!(1 << self.0), Ordering::Relaxed);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        LEDS.fetch_or(1 << self.0, Ordering::Relaxed);
        Ok(())
    }
}

/// The CLINT's `mtime`.
pub struct Mtime;

impl MonotonicTimer for Mtime {
    fn tick_hz(&self) -> u32 {
        MTIME_HZ
    }

    fn ticks(&self) -> u64 {
        // A 32-bit hart reads the 64-bit counter in two halves: re-read if the high half moved.
        loop {
            // SAFETY: aligned, always-mapped CLINT registers; reading has no side effect.
            let (hi, lo, hi2) = unsafe {
                (
                    read_volatile((MTIME + 4) as *const u32),
                    read_volatile(MTIME as *const u32),
                    read_volatile((MTIME + 4) as *const u32),
                )
            };
            if hi == hi2 {
                return (u64::from(hi) << 32) | u64::from(lo);
            }
        }
    }
}

fn set_mtimecmp(at: u64) {
    let cmp = MTIMECMP as *mut u32;
    // SAFETY: hart 0's mtimecmp; only this firmware writes it. High half first at its maximum so
    // that no intermediate value fires early.
    unsafe {
        write_volatile(cmp.add(1), u32::MAX);
        write_volatile(cmp, at as u32);
        write_volatile(cmp.add(1), (at >> 32) as u32);
    }
}

/// QEMU `virt` as the shared control loop sees it.
struct Virt;

impl Board for Virt {
    type Timer = Mtime;
    type Led = LedPin;
    const LAYOUT: Layout = LAYOUT;

    fn timer(&mut self) -> Mtime {
        set_mtimecmp(u64::MAX);
        // The timer interrupt only wakes `wfi`: interrupts stay globally off (mstatus.MIE = 0),
        // so no handler runs.
        // SAFETY: enabling the machine timer in `mie` with MIE clear cannot trap.
        unsafe { riscv::register::mie::set_mtimer() };
        Mtime
    }

    fn led(&mut self, n: u8) -> LedPin {
        LedPin(n)
    }

    fn led_register(&self) -> u32 {
        LEDS.load(Ordering::Relaxed)
    }

    fn stack(&self) -> (usize, usize) {
        // riscv-rt's linker symbols: the stack grows down from `_stack_start` to `__estack`.
        unsafe extern "C" {
            static _stack_start: u8;
            static __estack: u8;
        }
        (
            core::ptr::addr_of!(__estack) as usize,
            core::ptr::addr_of!(_stack_start) as usize,
        )
    }

    fn wait_until(&mut self, timer: &Mtime, due: u64) {
        set_mtimecmp(due);
        while timer.ticks() < due {
            riscv::asm::wfi();
        }
        set_mtimecmp(u64::MAX);
    }
}

#[riscv_rt::entry]
fn main() -> ! {
    palisade_board_common::exit(palisade_board_common::run(Virt))
}

#[unsafe(export_name = "ExceptionHandler")]
fn exception_handler(_frame: &riscv_rt::TrapFrame) -> ! {
    semihosting::process::exit(Verdict::HardFault as i32)
}

/// defmt frames to semihosting stdout (defmt-semihosting is Cortex-M only).
#[defmt::global_logger]
struct Logger;

struct State {
    encoder: defmt::Encoder,
    restore: critical_section::RestoreState,
}

struct Shared(UnsafeCell<State>);
// SAFETY: only touched between `acquire` and `release`, inside one critical section.
unsafe impl Sync for Shared {}

static STATE: Shared = Shared(UnsafeCell::new(State {
    encoder: defmt::Encoder::new(),
    restore: critical_section::RestoreState::invalid(),
}));
static TAKEN: AtomicBool = AtomicBool::new(false);

fn emit(bytes: &[u8]) {
    use semihosting::io::Write as _;
    if let Ok(mut out) = semihosting::io::stdout() {
        let _ = out.write_all(bytes);
    }
}

// SAFETY: `acquire` takes a critical section (single hart, interrupts off) and refuses reentry, so
// the state is used by one frame at a time.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        // SAFETY: released in `release`.
        let restore = unsafe { critical_section::acquire() };
        if TAKEN.swap(true, Ordering::Relaxed) {
            semihosting::process::exit(Verdict::Panic as i32);
        }
        // SAFETY: inside the critical section, see above.
        let state = unsafe { &mut *STATE.0.get() };
        state.restore = restore;
        state.encoder.start_frame(emit);
    }

    unsafe fn flush() {}

    unsafe fn release() {
        // SAFETY: inside the critical section taken by `acquire`.
        let state = unsafe { &mut *STATE.0.get() };
        state.encoder.end_frame(emit);
        let restore = state.restore;
        TAKEN.store(false, Ordering::Relaxed);
        // SAFETY: pairs with `acquire`.
        unsafe { critical_section::release(restore) };
    }

    unsafe fn write(bytes: &[u8]) {
        // SAFETY: inside the critical section taken by `acquire`.
        let state = unsafe { &mut *STATE.0.get() };
        state.encoder.write(bytes, emit);
    }
}
