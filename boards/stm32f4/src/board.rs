//! The STM32F407G-DISC1 (STM32F4DISCOVERY) peripherals this firmware uses.
//!
//! - LD4 (green, PD12) and LD3 (orange, PD13) are the rule's `gpio` pins 0 and 1, the blue user
//!   button B1 (PA0) its pin 2 (the board's schematic: LEDs active high through a resistor to
//!   ground, B1 pulls PA0 high when pressed against an external pull-down), so `1` means LED on
//!   and button pressed without inversion.
//! - TIM2, the 32-bit general-purpose timer, counts at 1 MHz (prescaled from the 84 MHz APB1
//!   timer clock) and is widened to 64 bits for the monotonic clock; its capture/compare
//!   channel 1 wakes the core from `wfi` at the next period.
//! - The clock tree runs from the board's 8 MHz crystal at 168 MHz (stm32f4xx-hal's `rcc`).

use embedded_hal::digital::{ErrorKind, ErrorType, OutputPin};
use palisade_board_common::{BoardGpio, Layout};
use palisade_mcu::{MonotonicTimer, PinSet, Widen32};
use stm32f4xx_hal::gpio::{ErasedPin, Input, Output, PushPull};
use stm32f4xx_hal::pac::{self, Interrupt, NVIC};
use stm32f4xx_hal::prelude::*;
use stm32f4xx_hal::rcc::{Config, Enable, Rcc};

/// Ticks per second of TIM2.
const TIMER_HZ: u32 = 1_000_000;
/// The longest single sleep, in ticks: well under the 32-bit counter's wrap, so the compare
/// value is always ahead of the counter when it is armed.
const MAX_SLEEP_TICKS: u64 = 1 << 30;
/// TIM2_SR bit CC1IF (capture/compare 1 flag).
const SR_CC1IF: u32 = 1 << 1;

/// Why an LED could not be driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedError {
    /// The board has no LED with this number, or it was handed out already.
    Unwired,
}

impl embedded_hal::digital::Error for LedError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

/// One of the Discovery's LEDs, as the control loop holds it. `Board::led` hands each LED out
/// once; an LED asked for twice, or one the board does not have, fails every write (the `gpio`
/// capability then answers the guest `HOST`) instead of panicking.
pub struct Led(Option<ErasedPin<Output<PushPull>>>);

impl ErrorType for Led {
    type Error = LedError;
}

impl OutputPin for Led {
    fn set_low(&mut self) -> Result<(), LedError> {
        let pin = self.0.as_mut().ok_or(LedError::Unwired)?;
        OutputPin::set_low(pin).map_err(|e| match e {})
    }

    fn set_high(&mut self) -> Result<(), LedError> {
        let pin = self.0.as_mut().ok_or(LedError::Unwired)?;
        OutputPin::set_high(pin).map_err(|e| match e {})
    }
}

fn tim2() -> &'static pac::tim2::RegisterBlock {
    // SAFETY: TIM2's register block is always mapped. Only `Tim2` (the main loop) and the TIM2
    // interrupt (which only clears CC1IF) touch it.
    unsafe { &*pac::TIM2::ptr() }
}

/// Clears the compare flag that woke the core (TIM2's interrupt handler, main.rs).
pub fn clear_tim2_compare() {
    // SR is read/clear-by-writing-0: ones leave the other flags as they are.
    // SAFETY: any value is valid for SR.
    tim2().sr().write(|w| unsafe { w.bits(!SR_CC1IF) });
}

/// TIM2, free-running, as a 64-bit monotonic tick count.
pub struct Tim2 {
    widen: Widen32,
}

impl Tim2 {
    fn start(rcc: &mut Rcc) -> Self {
        let prescaler = rcc.clocks.timclk1().raw() / TIMER_HZ - 1;
        pac::TIM2::enable(rcc);
        let t = tim2();
        // SAFETY (every `bits` below): TIM2 is a 32-bit timer; PSC takes 16 bits (83 at the
        // 84 MHz timer clock), ARR, CNT and SR take any value.
        t.cr1().write(|w| unsafe { w.bits(0) });
        t.psc().write(|w| unsafe { w.bits(prescaler) });
        t.arr().write(|w| unsafe { w.bits(u32::MAX) });
        t.cnt().write(|w| unsafe { w.bits(0) });
        // UG: load the prescaler now rather than at the first wrap; then drop the flags it set.
        t.egr().write(|w| unsafe { w.bits(1) });
        t.sr().write(|w| unsafe { w.bits(0) });
        t.dier().write(|w| w.cc1ie().enabled());
        // CEN
        t.cr1().write(|w| unsafe { w.bits(1) });
        Self {
            widen: Widen32::new(),
        }
    }
}

impl MonotonicTimer for Tim2 {
    fn tick_hz(&self) -> u32 {
        TIMER_HZ
    }

    fn ticks(&self) -> u64 {
        self.widen.widen(tim2().cnt().read().bits())
    }
}

/// The STM32F407G-DISC1 as the shared control loop sees it.
pub struct Discovery {
    rcc: Rcc,
    leds: [Option<ErasedPin<Output<PushPull>>>; 2],
    button: Option<ErasedPin<Input>>,
}

impl Discovery {
    /// Clocks the chip at 168 MHz from the 8 MHz crystal and takes the pins.
    pub fn new(p: pac::Peripherals) -> Self {
        let mut rcc = p.RCC.freeze(Config::hse(8.MHz()).sysclk(168.MHz()));
        let gpioa = p.GPIOA.split(&mut rcc);
        let gpiod = p.GPIOD.split(&mut rcc);
        // LEDs start off (low), before the control loop writes them.
        let ld4 = gpiod.pd12.into_push_pull_output().erase();
        let ld3 = gpiod.pd13.into_push_pull_output().erase();
        // B1 has an external pull-down; the internal one only agrees with it.
        let b1 = gpioa.pa0.into_pull_down_input().erase();
        Self {
            rcc,
            leds: [Some(ld4), Some(ld3)],
            button: Some(b1),
        }
    }
}

impl palisade_board_common::Board for Discovery {
    type Timer = Tim2;
    type Led = Led;
    const LAYOUT: Layout = crate::LAYOUT;

    fn timer(&mut self) -> Tim2 {
        let timer = Tim2::start(&mut self.rcc);
        // SAFETY: TIM2's handler (main.rs) only clears its compare flag.
        unsafe { NVIC::unmask(Interrupt::TIM2) };
        timer
    }

    fn led(&mut self, n: u8) -> Led {
        Led(self.leds.get_mut(usize::from(n)).and_then(Option::take))
    }

    fn led_register(&self) -> u32 {
        // The scenario checks read this; a product build never does. Report what was written.
        // SAFETY: reading GPIOD's ODR has no side effect.
        let odr = unsafe { (*pac::GPIOD::ptr()).odr().read().bits() };
        (odr >> 12) & 0b11
    }

    fn stack(&self) -> (usize, usize) {
        // cortex-m-rt's linker symbols: the stack grows down from `_stack_start` to `_stack_end`.
        unsafe extern "C" {
            static _stack_start: u8;
            static _stack_end: u8;
        }
        (
            core::ptr::addr_of!(_stack_end) as usize,
            core::ptr::addr_of!(_stack_start) as usize,
        )
    }

    fn wait_until(&mut self, timer: &Tim2, due: u64) {
        loop {
            let now = timer.ticks();
            if now >= due {
                break;
            }
            let target = now + (due - now).min(MAX_SLEEP_TICKS);
            // With interrupts masked, arming the compare and checking the clock cannot race the
            // interrupt: a compare that matches before `wfi` leaves TIM2 pending, and a pending
            // interrupt ends `wfi` even while masked. The handler runs on `enable`.
            cortex_m::interrupt::disable();
            let t = tim2();
            // SAFETY: any 32-bit value is a valid compare value; SR as in `clear_tim2_compare`.
            t.ccr1().write(|w| unsafe { w.bits(target as u32) });
            t.sr().write(|w| unsafe { w.bits(!SR_CC1IF) });
            NVIC::unpend(Interrupt::TIM2);
            if timer.ticks() < target {
                cortex_m::asm::wfi();
            }
            // SAFETY: nothing here relies on interrupts staying masked.
            unsafe { cortex_m::interrupt::enable() };
        }
    }

    fn add_inputs(&mut self, gpio: &BoardGpio) -> PinSet {
        match self.button.take().map(|button| gpio.add_input(2, button)) {
            Some(Ok(())) => PinSet::of(&[2]),
            _ => PinSet::EMPTY,
        }
    }
}
