//! Threat: read host memory or another tenant's data.

use palisade::{ContractViolation, ErrorKind, TrapKind};
use palisade_guest_artifacts::hostile;
use palisade_tests::{assert_serves_good_guest, compile, error_kind, host, tenant};

#[test]
fn load_outside_linear_memory_traps() {
    let host = host();
    let t = tenant(&host, "mallory", &[]);
    let m = compile(&host, hostile::OOB_LOAD);
    let kind = error_kind(host.runtime.call(&m, &t, "run", b""));
    assert_eq!(kind, ErrorKind::Trap(TrapKind::MemoryOutOfBounds));
    assert_serves_good_guest(&host, &t);
}

#[test]
fn host_function_given_a_pointer_outside_memory_refuses_it() {
    let host = host();
    let t = tenant(&host, "mallory", &["log"]);
    let m = compile(&host, hostile::BAD_POINTER);
    let kind = error_kind(host.runtime.call(&m, &t, "run", b""));
    assert_eq!(
        kind,
        ErrorKind::GuestMemoryOutOfBounds {
            ptr: 65_535,
            len: 100
        }
    );
    assert!(
        host.log.lines().is_empty(),
        "nothing may be read and logged"
    );
    assert_serves_good_guest(&host, &t);
}

#[test]
fn allocator_returning_a_pointer_outside_memory_gets_no_input_written() {
    let host = host();
    let t = tenant(&host, "mallory", &[]);
    let m = compile(&host, hostile::BAD_ALLOC);
    let kind = error_kind(host.runtime.call(&m, &t, "run", b"secret input"));
    assert_eq!(
        kind,
        ErrorKind::GuestMemoryOutOfBounds {
            ptr: 0xFFFF_FF00,
            len: 12
        }
    );
    assert_serves_good_guest(&host, &t);
}

#[test]
fn output_region_outside_memory_is_not_read() {
    let host = host();
    let t = tenant(&host, "mallory", &[]);
    let m = compile(&host, hostile::OUTPUT_OUT_OF_BOUNDS);
    let kind = error_kind(host.runtime.call(&m, &t, "beyond_memory", b""));
    assert_eq!(
        kind,
        ErrorKind::OutputOutOfBounds {
            ptr: 65_000,
            len: 1_000,
            memory_bytes: 65_536
        }
    );
    assert_serves_good_guest(&host, &t);
}

#[test]
fn importing_a_memory_is_refused_at_registration() {
    let host = host();
    let err = host
        .runtime
        .compile(hostile::IMPORT_HOST_MEMORY)
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::ContractViolation(ContractViolation::ForeignImport {
            import: "palisade.memory".into()
        })
    );
    assert_serves_good_guest(&host, &tenant(&host, "mallory", &[]));
}

#[test]
fn a_tenant_cannot_name_another_tenants_keys() {
    let host = host();
    let victim = tenant(&host, "alice", &["kv.read", "kv.write"]);
    let thief = tenant(&host, "mallory", &["kv.read", "kv.write"]);
    let m = compile(&host, hostile::TENANT_KEYS);

    let planted = host.runtime.call(&m, &victim, "plant", b"secret\0hunter2");
    assert_eq!(planted.result.unwrap(), b"");
    // Alice can read her own key back through the same guest (the spelling `secret` is tried
    // as `<empty tenant>` ++ key): proof that `steal` would find a reachable key.
    let own = host.runtime.call(&m, &victim, "steal", b"\0secret");
    assert_eq!(own.result.unwrap(), b"hunter2\n");

    let stolen = host.runtime.call(&m, &thief, "steal", b"alice\0secret");
    assert_eq!(
        stolen.result.unwrap(),
        b"",
        "mallory must find nothing of alice's"
    );
    let stolen = host.runtime.call(&m, &thief, "steal", b"\0secret");
    assert_eq!(
        stolen.result.unwrap(),
        b"",
        "the bare key names mallory's own namespace"
    );
    assert_eq!(host.kv.used_bytes("mallory"), 0);

    assert_serves_good_guest(&host, &thief);
}

#[test]
fn no_state_survives_between_calls_or_tenants() {
    let host = host();
    let a = tenant(&host, "alice", &[]);
    let b = tenant(&host, "mallory", &[]);
    let m = compile(&host, hostile::KEEP_STATE);
    for (t, input) in [(&a, &b"alice's secret"[..]), (&a, b"again"), (&b, b"")] {
        let out = host.runtime.call(&m, t, "remember", input).result.unwrap();
        assert_eq!(
            out,
            1u32.to_le_bytes(),
            "a fresh instance sees no earlier call"
        );
    }
    assert_serves_good_guest(&host, &b);
}
