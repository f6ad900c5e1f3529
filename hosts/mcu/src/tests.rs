#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

extern crate std;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::convert::Infallible;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use core::time::Duration;

use palisade::capability::code;
use palisade::{BundleError, ErrorKind, Limits, ManifestMismatch, ManualClock, Runtime, Tenant};

use super::*;

#[derive(Clone, Default)]
struct Pin(Arc<AtomicBool>);

impl embedded_hal::digital::ErrorType for Pin {
    type Error = Infallible;
}

impl embedded_hal::digital::OutputPin for Pin {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.0.store(false, Ordering::SeqCst);
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Infallible> {
        self.0.store(true, Ordering::SeqCst);
        Ok(())
    }
}

impl embedded_hal::digital::InputPin for Pin {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(self.0.load(Ordering::SeqCst))
    }
    fn is_low(&mut self) -> Result<bool, Infallible> {
        Ok(!self.0.load(Ordering::SeqCst))
    }
}

/// Channel 0 reads 21.5 °C, channel 1 fails, others do not exist; counts reads.
#[derive(Clone, Default)]
struct Thermo(Arc<AtomicU32>);

impl Sensor for Thermo {
    fn read(&mut self, channel: u32) -> Result<i32, SensorError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        match channel {
            0 => Ok(21_500),
            1 => Err(SensorError::Failed),
            _ => Err(SensorError::NoSuchChannel),
        }
    }
}

struct Board {
    runtime: Runtime,
    gpio: Gpio,
    led0: Pin,
    led1: Pin,
    button: Pin,
    reads: Arc<AtomicU32>,
}

fn board() -> Board {
    let gpio: Gpio = Gpio::new();
    let (led0, led1, button) = (Pin::default(), Pin::default(), Pin::default());
    gpio.add_output(0, led0.clone()).unwrap();
    gpio.add_output(1, led1.clone()).unwrap();
    gpio.add_input(5, button.clone()).unwrap();
    gpio.allow("rule", PinSet::of(&[0, 5])).unwrap();
    let thermo = Thermo::default();
    let reads = thermo.0.clone();
    let sensors = Sensors::new(thermo);
    let builder = Runtime::builder(Arc::new(ManualClock::new()));
    let runtime = sensors.register(gpio.register(builder)).build().unwrap();
    Board {
        runtime,
        gpio,
        led0,
        led1,
        button,
        reads,
    }
}

fn tenant(runtime: &Runtime, id: &str) -> Tenant {
    runtime
        .tenant(id)
        .grant("gpio")
        .grant("sensor")
        .limits(Limits::builder().fuel(100_000).build())
        .build()
        .unwrap()
}

/// A guest whose entry `run` evaluates `body` and returns its i32 as a 4-byte output.
fn guest(body: &str) -> Vec<u8> {
    wat::parse_str(alloc::format!(
        r#"(module
          (import "palisade" "output" (func $output (param i32 i32)))
          (import "palisade" "gpio_write" (func $gpio_write (param i32 i32) (result i32)))
          (import "palisade" "gpio_read" (func $gpio_read (param i32) (result i32)))
          (import "palisade" "sensor_read" (func $sensor_read (param i32 i32) (result i32)))
          (memory (export "memory") 1)
          (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
          (func (export "run") (param $p i32) (param $n i32) (result i32)
            (i32.store (i32.const 0) ({body}))
            (call $output (i32.const 0) (i32.const 4))
            (i32.const 0))
          (@custom "palisade.abi" "\01\00\00\00"))"#
    ))
    .unwrap()
}

fn run(b: &Board, who: &str, body: &str) -> Result<i32, palisade::Error> {
    let module = b.runtime.compile(&guest(body)).unwrap();
    let out = b
        .runtime
        .call(&module, &tenant(&b.runtime, who), "run", &[])
        .result?;
    Ok(i32::from_le_bytes(out[..4].try_into().unwrap()))
}

#[test]
fn gpio_write_drives_an_allowed_output_pin() {
    let b = board();
    assert_eq!(
        run(&b, "rule", "call $gpio_write (i32.const 0) (i32.const 1)").unwrap(),
        0
    );
    assert!(b.led0.0.load(Ordering::SeqCst));
    assert_eq!(b.gpio.level(0), Some(true));
    assert_eq!(run(&b, "rule", "call $gpio_read (i32.const 0)").unwrap(), 1);
    assert_eq!(
        run(&b, "rule", "call $gpio_write (i32.const 0) (i32.const 0)").unwrap(),
        0
    );
    assert!(!b.led0.0.load(Ordering::SeqCst));
}

#[test]
fn gpio_outside_the_allowlist_is_denied_and_untouched() {
    let b = board();
    // Pin 1 exists but is not in the rule's allowlist.
    assert_eq!(
        run(&b, "rule", "call $gpio_write (i32.const 1) (i32.const 1)").unwrap(),
        code::DENIED
    );
    assert!(!b.led1.0.load(Ordering::SeqCst));
    assert_eq!(
        run(&b, "rule", "call $gpio_read (i32.const 1)").unwrap(),
        code::DENIED
    );
    // A tenant with the capability but no allowlist entry may touch nothing.
    assert_eq!(
        run(
            &b,
            "stranger",
            "call $gpio_write (i32.const 0) (i32.const 1)"
        )
        .unwrap(),
        code::DENIED
    );
    assert!(!b.led0.0.load(Ordering::SeqCst));
    // The host keeps serving the allowed pin.
    assert_eq!(
        run(&b, "rule", "call $gpio_write (i32.const 0) (i32.const 1)").unwrap(),
        0
    );
    assert!(b.led0.0.load(Ordering::SeqCst));
}

#[test]
fn gpio_bad_arguments_are_invalid() {
    let b = board();
    for body in [
        "call $gpio_write (i32.const -1) (i32.const 1)",
        "call $gpio_write (i32.const 32) (i32.const 1)",
        "call $gpio_write (i32.const 0) (i32.const 2)",
        // Allowed but an input pin: not writable.
        "call $gpio_write (i32.const 5) (i32.const 1)",
        "call $gpio_read (i32.const 1000)",
    ] {
        assert_eq!(run(&b, "rule", body).unwrap(), code::INVALID, "{body}");
    }
    assert!(!b.button.0.load(Ordering::SeqCst));
    assert_eq!(run(&b, "rule", "call $gpio_read (i32.const 5)").unwrap(), 0);
    b.button.0.store(true, Ordering::SeqCst);
    assert_eq!(run(&b, "rule", "call $gpio_read (i32.const 5)").unwrap(), 1);
}

#[test]
fn gpio_needs_its_capability() {
    let b = board();
    let module = b
        .runtime
        .compile(&guest("call $gpio_write (i32.const 0) (i32.const 1)"))
        .unwrap();
    let no_gpio = b.runtime.tenant("rule").grant("sensor").build().unwrap();
    let err = b
        .runtime
        .call(&module, &no_gpio, "run", &[])
        .result
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::CapabilityDenied { capability, .. } if capability == "gpio"),
        "{err}"
    );
    assert!(!b.led0.0.load(Ordering::SeqCst));
}

#[test]
fn sensor_read_writes_the_reading_into_guest_memory() {
    let b = board();
    let body = "block (result i32) (drop (call $sensor_read (i32.const 0) (i32.const 8))) (i32.load (i32.const 8))";
    assert_eq!(run(&b, "rule", body).unwrap(), 21_500);
    assert_eq!(
        run(&b, "rule", "call $sensor_read (i32.const 0) (i32.const 8)").unwrap(),
        0
    );
    assert_eq!(
        run(&b, "rule", "call $sensor_read (i32.const 7) (i32.const 8)").unwrap(),
        code::INVALID
    );
    assert_eq!(
        run(&b, "rule", "call $sensor_read (i32.const -1) (i32.const 8)").unwrap(),
        code::INVALID
    );
    assert_eq!(
        run(&b, "rule", "call $sensor_read (i32.const 1) (i32.const 8)").unwrap(),
        code::HOST
    );
}

#[test]
fn sensor_read_outside_guest_memory_traps_before_reading() {
    let b = board();
    let before = b.reads.load(Ordering::SeqCst);
    let err = run(
        &b,
        "rule",
        "call $sensor_read (i32.const 0) (i32.const 65534)",
    )
    .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::GuestMemoryOutOfBounds { ptr: 65534, len: 4 }
        ),
        "{err}"
    );
    assert_eq!(b.reads.load(Ordering::SeqCst), before);
    // The host keeps serving.
    assert_eq!(
        run(&b, "rule", "call $sensor_read (i32.const 0) (i32.const 8)").unwrap(),
        0
    );
}

#[test]
fn board_calls_charge_their_fuel_price() {
    let b = board();
    let fuel = |body: &str| {
        let module = b.runtime.compile(&guest(body)).unwrap();
        let call = b
            .runtime
            .call(&module, &tenant(&b.runtime, "rule"), "run", &[]);
        call.result.unwrap();
        call.report.fuel_used
    };
    let base = fuel("i32.const 0");
    let write = fuel("call $gpio_write (i32.const 0) (i32.const 1)");
    let read = fuel("call $gpio_read (i32.const 0)");
    let sensor = fuel("call $sensor_read (i32.const 0) (i32.const 8)");
    for (name, used, price) in [
        ("gpio_write", write, gpio::price::GPIO_WRITE),
        ("gpio_read", read, gpio::price::GPIO_READ),
        ("sensor_read", sensor, sensor::PRICE),
    ] {
        assert!(used >= base + price, "{name}: {used} < {base} + {price}");
        assert!(
            used <= base + price + 10,
            "{name}: {used} > {base} + {price} + 10"
        );
    }
}

#[test]
fn bank_configuration_errors_are_typed() {
    let gpio: Gpio<2, 1> = Gpio::new();
    assert_eq!(
        gpio.add_output(32, Pin::default()),
        Err(GpioError::PinOutOfRange(32))
    );
    gpio.add_output(3, Pin::default()).unwrap();
    assert_eq!(
        gpio.add_input(3, Pin::default()),
        Err(GpioError::PinTaken(3))
    );
    gpio.add_input(4, Pin::default()).unwrap();
    assert_eq!(gpio.add_output(5, Pin::default()), Err(GpioError::BankFull));
    gpio.allow("a", PinSet::of(&[3])).unwrap();
    gpio.allow("a", PinSet::of(&[4])).unwrap();
    assert_eq!(gpio.allowed("a"), PinSet::of(&[4]));
    assert_eq!(
        gpio.allow("b", PinSet::EMPTY),
        Err(GpioError::AllowlistFull)
    );
    let long = "x".repeat(gpio::MAX_TENANT_ID + 1);
    let gpio2: Gpio = Gpio::new();
    assert_eq!(
        gpio2.allow(&long, PinSet::EMPTY),
        Err(GpioError::TenantIdTooLong)
    );
    assert!(gpio.write(3, true));
    assert!(!gpio.write(4, true), "an input is not writable");
    assert!(!gpio.write(9, true), "no such pin");
}

struct Counter(AtomicU32, u32);

impl MonotonicTimer for Counter {
    fn tick_hz(&self) -> u32 {
        self.1
    }
    fn ticks(&self) -> u64 {
        u64::from(self.0.load(Ordering::SeqCst))
    }
}

#[test]
fn timer_clock_converts_ticks_to_nanoseconds() {
    use palisade::Clock;
    let clock = TimerClock(Counter(AtomicU32::new(25_000_000 + 25), 25_000_000));
    assert_eq!(clock.now().0, 1_000_001_000);
    assert_eq!(ticks_to_nanos(u64::MAX, 1_000_000_000), u64::MAX);
    assert_eq!(ticks_to_nanos(3, 0), 0);
    let d = palisade::Instant(0).saturating_add(Duration::from_millis(5));
    assert_eq!(d.0, ticks_to_nanos(125_000, 25_000_000));
}

#[test]
fn widen32_counts_wraps() {
    let w = Widen32::new();
    assert_eq!(w.widen(10), 10);
    assert_eq!(w.widen(u32::MAX), u64::from(u32::MAX));
    assert_eq!(w.widen(5), (1 << 32) | 5);
    assert_eq!(w.widen(5), (1 << 32) | 5);
    assert_eq!(w.widen(1), (2 << 32) | 1);
}

const SECRET: [u8; 32] = [42; 32];

fn trust() -> palisade::TrustStore {
    let mut trust = palisade::TrustStore::require_signatures();
    trust
        .add_key(&palisade::bundle::public_key(&SECRET))
        .unwrap();
    trust
}

fn leak(bytes: Vec<u8>) -> &'static [u8] {
    let mut padded = bytes;
    padded.extend_from_slice(&[0xFF; 64]); // erased flash after the bundle
    padded.leak()
}

/// A bundle whose manifest asks for what `guest` imports (`gpio`, `sensor`).
fn signed(module: &[u8]) -> Vec<u8> {
    palisade::BundleBuilder::new("rule", "1.0.0", module)
        .capability("gpio")
        .capability("sensor")
        .sign(&SECRET)
        .unwrap()
}

#[test]
fn a_signed_bundle_in_flash_loads_and_runs() {
    let b = board();
    let slot = BundleSlot::new(
        "active",
        leak(signed(&guest(
            "call $gpio_write (i32.const 0) (i32.const 1)",
        ))),
    );
    let good = slot
        .load(&b.runtime, &trust(), &tenant(&b.runtime, "rule"))
        .unwrap();
    assert_eq!(good.slot, "active");
    assert_eq!(good.bundle.manifest().name(), "rule");
    assert_eq!(good.module.digest(), good.bundle.manifest().digest());
    b.runtime
        .call(&good.module, &tenant(&b.runtime, "rule"), "run", &[])
        .result
        .unwrap();
    assert!(b.led0.0.load(Ordering::SeqCst));
}

#[test]
fn bad_bundles_are_refused_before_compiling() {
    let b = board();
    let t = tenant(&b.runtime, "rule");
    let wasm = guest("i32.const 0");
    let load = |bytes: Vec<u8>| BundleSlot::new("s", leak(bytes)).load(&b.runtime, &trust(), &t);

    let unsigned = palisade::BundleBuilder::new("rule", "1.0.0", &wasm)
        .build_unsigned()
        .unwrap();
    assert!(matches!(
        load(unsigned),
        Err(LoadError::Bundle(palisade::BundleError::MissingSignature))
    ));

    let mut corrupted = signed(&wasm);
    let last = corrupted.len() - 1;
    corrupted[last] ^= 0x01; // a module byte
    assert!(matches!(
        load(corrupted),
        Err(LoadError::Bundle(
            palisade::BundleError::DigestMismatch { .. }
        ))
    ));

    let mut tampered = signed(&wasm);
    tampered[palisade::bundle::HEADER_LEN + 6] ^= 0x01; // a manifest byte
    let e = load(tampered).unwrap_err();
    assert!(
        matches!(
            e,
            LoadError::Bundle(
                palisade::BundleError::BadSignature | palisade::BundleError::Malformed(_)
            )
        ),
        "{e:?}"
    );

    let foreign = palisade::BundleBuilder::new("rule", "1.0.0", &wasm)
        .sign(&[9; 32])
        .unwrap();
    assert!(matches!(
        load(foreign),
        Err(LoadError::Bundle(palisade::BundleError::UntrustedKey(_)))
    ));

    let erased: &'static [u8] = alloc::vec![0xFF; 256].leak();
    let e = BundleSlot::new("s", erased)
        .load(&b.runtime, &trust(), &t)
        .unwrap_err();
    assert!(matches!(e, LoadError::Empty), "{e:?}");

    // A verified bundle whose module needs a capability the tenant lacks.
    let no_gpio = b.runtime.tenant("rule").grant("sensor").build().unwrap();
    let slot = BundleSlot::new(
        "s",
        leak(signed(&guest(
            "call $gpio_write (i32.const 0) (i32.const 1)",
        ))),
    );
    let e = slot.load(&b.runtime, &trust(), &no_gpio).unwrap_err();
    assert!(
        matches!(&e, LoadError::Module(err) if matches!(err.kind(), ErrorKind::CapabilityDenied { .. })),
        "{e:?}"
    );
}

#[test]
fn load_first_good_falls_back_to_the_next_slot() {
    let b = board();
    let t = tenant(&b.runtime, "rule");
    let wasm = guest("i32.const 7");
    let mut corrupted = signed(&wasm);
    let last = corrupted.len() - 1;
    corrupted[last] ^= 0x80;
    let slots = [
        BundleSlot::new("active", leak(corrupted)),
        BundleSlot::new("fallback", leak(signed(&wasm))),
    ];
    let mut refused = Vec::new();
    let good = load_first_good(&slots, &b.runtime, &trust(), &t, |slot, e| {
        refused.push((
            slot.name(),
            matches!(e, LoadError::Bundle(BundleError::DigestMismatch { .. })),
        ));
    })
    .unwrap();
    assert_eq!(good.slot, "fallback");
    assert_eq!(refused, [("active", true)], "refused for its digest");

    let nothing = load_first_good(&slots[..1], &b.runtime, &trust(), &t, |_, _| {});
    assert!(nothing.is_none());
}

/// What the registry does with `bytes` (on a runtime with the board's capabilities), and what
/// the board's slot loader does: both must refuse with the same [`BundleError`].
fn registry_and_board_refusal(bytes: Vec<u8>) -> (BundleError, BundleError) {
    let b = board();
    let registry = palisade::Registry::new(board().runtime);
    let by_registry = registry.register_bundle(&bytes, &trust()).unwrap_err();
    let ErrorKind::Bundle(by_registry) = by_registry.kind() else {
        panic!("the registry refused with {by_registry:?}, not a bundle error");
    };
    let t = tenant(&b.runtime, "rule");
    let by_board = BundleSlot::new("s", leak(bytes))
        .load(&b.runtime, &trust(), &t)
        .unwrap_err();
    let LoadError::Bundle(by_board) = by_board else {
        panic!("the board refused with {by_board:?}, not a bundle error");
    };
    (*by_registry, by_board)
}

#[test]
fn the_board_refuses_a_manifest_with_another_abi_version_as_the_registry_does() {
    let bytes = palisade::BundleBuilder::new("rule", "1.0.0", &guest("i32.const 0"))
        .abi_version(2)
        .capability("gpio")
        .capability("sensor")
        .sign(&SECRET)
        .unwrap();
    let (by_registry, by_board) = registry_and_board_refusal(bytes);
    assert_eq!(
        by_board,
        BundleError::Manifest(ManifestMismatch::AbiVersion {
            manifest: 2,
            module: 1
        })
    );
    assert_eq!(by_board, by_registry);
}

#[test]
fn the_board_refuses_an_import_the_manifest_does_not_declare_as_the_registry_does() {
    // The guest imports `gpio_write` and `sensor_read`; the manifest asks only for `gpio`.
    let bytes = palisade::BundleBuilder::new("rule", "1.0.0", &guest("i32.const 0"))
        .capability("gpio")
        .sign(&SECRET)
        .unwrap();
    let (by_registry, by_board) = registry_and_board_refusal(bytes);
    let BundleError::Manifest(ManifestMismatch::UndeclaredCapability { import, capability }) =
        by_board
    else {
        panic!("refused with {by_board:?}");
    };
    assert_eq!(import, "sensor_read");
    assert_eq!(capability, "sensor");
    assert_eq!(by_board, by_registry);
}

#[test]
fn the_board_refuses_a_capability_it_does_not_provide_as_the_registry_does() {
    let bytes = palisade::BundleBuilder::new("rule", "1.0.0", &guest("i32.const 0"))
        .capability("gpio")
        .capability("sensor")
        .capability("app.camera")
        .sign(&SECRET)
        .unwrap();
    let (by_registry, by_board) = registry_and_board_refusal(bytes);
    assert_eq!(
        by_board,
        BundleError::Manifest(ManifestMismatch::UnknownCapability {
            capability: palisade::ShortName::new("app.camera")
        })
    );
    assert_eq!(by_board, by_registry);
}

#[test]
fn the_board_and_the_registry_refuse_an_unsigned_bundle_alike() {
    let bytes = palisade::BundleBuilder::new("rule", "1.0.0", &guest("i32.const 0"))
        .capability("gpio")
        .capability("sensor")
        .build_unsigned()
        .unwrap();
    let (by_registry, by_board) = registry_and_board_refusal(bytes);
    assert_eq!(by_board, BundleError::MissingSignature);
    assert_eq!(by_board, by_registry);
}
