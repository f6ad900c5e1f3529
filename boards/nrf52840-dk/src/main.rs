//! Palisade on the Nordic nRF52840-DK (nRF52840, Cortex-M4F, 1 MiB flash, 256 KiB RAM).
//!
//! The control loop is the one every board shares (`boards/common`,
//! [`palisade_board_common::run`]); this firmware supplies the DK's LEDs and button through
//! nrf52840-hal's GPIO pins, TIMER1 as the clock that also wakes the core from `wfi` between
//! ticks, and the rule slots' place in flash (memory.x). Logs go out over RTT (defmt).
#![no_std]
#![no_main]

mod board;

use cortex_m_rt::{entry, exception};
use defmt_rtt as _;
use nrf52840_hal::pac::{self, interrupt};
use palisade_board_common::Layout;

/// Where the rule slots lie in flash: page-aligned (4 KiB), past the firmware's 768 KiB
/// (memory.x, which also exports these addresses;
/// [`palisade_board_common::run_from_flash`] checks them).
const LAYOUT: Layout = Layout {
    active_slot: 0x000C_0000,
    fallback_slot: 0x000E_0000,
    slot_bytes: 0x1_F000,
    // No scenario harness on a real board (no `scenarios` feature): never read. The last
    // flash page, reserved by memory.x.
    scenario: 0x000F_F000,
};

#[entry]
fn main() -> ! {
    if let Some(p) = pac::Peripherals::take() {
        palisade_board_common::run_from_flash(
            || board::Dk::new(p),
            palisade_board_common::linker_slots!(),
        );
    }
    loop {
        cortex_m::asm::wfi();
    }
}

/// TIMER1's compare 1 (the only interrupt enabled) wakes `wfi` in `Board::wait_until`.
#[interrupt]
fn TIMER1() {
    board::clear_timer1_compare();
}

/// A fault, or a panic without a debugger attached (the shared panic handler ends in a
/// semihosting call, a `bkpt` that faults when no probe listens): reset. After a reset the pins
/// are inputs again, so the LEDs go off, and the firmware boots afresh.
#[exception]
unsafe fn HardFault(_frame: &cortex_m_rt::ExceptionFrame) -> ! {
    cortex_m::peripheral::SCB::sys_reset()
}
