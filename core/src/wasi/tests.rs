use super::{Access, access, func_type};
use crate::abi::preview1::FUNCTIONS;

#[test]
fn every_preview1_function_is_listed_once() {
    for (i, def) in FUNCTIONS.iter().enumerate() {
        assert!(
            FUNCTIONS.iter().skip(i + 1).all(|d| d.name != def.name),
            "{} listed twice",
            def.name
        );
    }
    assert_eq!(access("path_open"), Some(Access::Capability("files.read")));
    assert_eq!(
        access("path_unlink_file"),
        Some(Access::Capability("files.write"))
    );
    assert_eq!(access("path_symlink"), Some(Access::Denied));
    assert_eq!(access("random_get"), Some(Access::Capability("random")));
    assert_eq!(access("fd_write"), Some(Access::Always));
    assert_eq!(access("no_such_function"), None);
}

#[test]
fn types_follow_the_specification() {
    use wasmi::{
        FuncType,
        ValType::{I32, I64},
    };
    assert_eq!(
        func_type("path_open"),
        Some(FuncType::new(
            [I32, I32, I32, I32, I32, I64, I64, I32, I32],
            [I32]
        ))
    );
    assert_eq!(func_type("proc_exit"), Some(FuncType::new([I32], [])));
    assert_eq!(
        func_type("clock_time_get"),
        Some(FuncType::new([I32, I64, I32], [I32]))
    );
    assert_eq!(func_type("sched_yield"), Some(FuncType::new([], [I32])));
}
