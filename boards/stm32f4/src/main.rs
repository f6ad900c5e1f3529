//! Palisade on ST's STM32F407G-DISC1 Discovery board (STM32F407VG, Cortex-M4F, 1 MiB flash,
//! 128 KiB SRAM + 64 KiB CCM RAM).
//!
//! The control loop is the one every board shares (`boards/common`,
//! [`palisade_board_common::run`]); this firmware supplies the Discovery's LEDs and button through
//! stm32f4xx-hal's GPIO pins, TIM2 as the clock that also wakes the core from `wfi` between
//! ticks, and the rule slots' place in flash (memory.x). Logs go out over RTT (defmt).
#![no_std]
#![no_main]

mod board;

use cortex_m_rt::{entry, exception};
use defmt_rtt as _;
use palisade_board_common::Layout;
use stm32f4xx_hal::pac::{self, interrupt};

/// Where the rule slots lie in flash: one 128 KiB erase sector each (sectors 8 and 9), past
/// the firmware's 512 KiB (sectors 0-7; memory.x, which also exports these addresses;
/// [`palisade_board_common::run_from_flash`] checks them).
const LAYOUT: Layout = Layout {
    active_slot: 0x0808_0000,
    fallback_slot: 0x080A_0000,
    slot_bytes: 0x2_0000,
    // No scenario harness on a real board (no `scenarios` feature): never read. Sector 10,
    // left free by memory.x.
    scenario: 0x080C_0000,
};

#[entry]
fn main() -> ! {
    if let Some(p) = pac::Peripherals::take() {
        palisade_board_common::run_from_flash(
            || board::Discovery::new(p),
            palisade_board_common::linker_slots!(),
        );
    }
    loop {
        cortex_m::asm::wfi();
    }
}

/// TIM2's compare 1 (the only interrupt enabled) wakes `wfi` in `Board::wait_until`.
#[interrupt]
fn TIM2() {
    board::clear_tim2_compare();
}

/// A fault, or a panic without a debugger attached (the shared panic handler ends in a
/// semihosting call, a `bkpt` that faults when no probe listens): reset. After a reset the pins
/// are inputs again, so the LEDs go off, and the firmware boots afresh.
#[exception]
unsafe fn HardFault(_frame: &cortex_m_rt::ExceptionFrame) -> ! {
    cortex_m::peripheral::SCB::sys_reset()
}
