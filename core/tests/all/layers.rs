//! The core's modules form layers: no import cycle among them (docs/ARCHITECTURE.md, "The
//! module map"). Read from the sources: every `crate::` path outside test code, with the
//! crate root's re-exports (`crate::KvStore` is `kv`) resolved to the module that defines them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, without test files (`tests.rs`).
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

/// `src` without comments and without the item after each `#[cfg(test)]`.
fn code_of(src: &str) -> String {
    let mut code = String::new();
    for line in src.lines() {
        let line = line.split("//").next().unwrap_or("");
        code.push_str(line);
        code.push('\n');
    }
    while let Some(at) = code.find("#[cfg(test)]") {
        let rest = &code[at..];
        // The item ends at its `;` or at the brace that closes its first `{`.
        let semi = rest.find(';');
        let brace = rest.find('{');
        let end = match (semi, brace) {
            (Some(s), Some(b)) if s < b => s + 1,
            (_, Some(b)) => {
                let mut depth = 0;
                let mut end = rest.len();
                for (i, c) in rest[b..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = b + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (Some(s), None) => s + 1,
            (None, None) => rest.len(),
        };
        code.replace_range(at..at + end, "");
    }
    code
}

/// The first segment of every path in a `use` tree body such as `a::B, c::{D, E}, F as G`
/// (`first`), or the last name of each (`!first`, for re-exported items).
fn names_in_group(group: &str, first: bool, out: &mut Vec<String>) {
    let mut depth = 0;
    let mut start = 0;
    let bytes = group.as_bytes();
    let mut parts = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            b',' if depth == 0 => {
                parts.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&group[start..]);
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        if first {
            let head = part.split("::").next().unwrap_or("").trim();
            out.push(head.trim_start_matches('{').trim().to_string());
        } else if let Some(open) = part.find('{') {
            let inner = &part[open + 1..part.rfind('}').unwrap_or(part.len())];
            names_in_group(inner, false, out);
        } else {
            let last = part.rsplit("::").next().unwrap_or("");
            let name = last.rsplit(" as ").next().unwrap_or(last).trim();
            out.push(name.to_string());
        }
    }
}

/// The balanced `{...}` group starting at `s[0]`, without its braces.
fn group_at(s: &str) -> &str {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &s[1..i];
                }
            }
            _ => {}
        }
    }
    &s[1..]
}

/// The names the crate root re-exports (`pub use kv::{KvStore, ...}`), by the module they
/// come from.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for stmt in code_of(lib).split(';') {
        let stmt = stmt.trim();
        let Some(path) = stmt.strip_prefix("pub use ") else {
            continue;
        };
        let path = path.trim_start_matches("crate::");
        let Some((module, rest)) = path.split_once("::") else {
            continue;
        };
        let mut names = Vec::new();
        names_in_group(rest, false, &mut names);
        for name in names {
            map.insert(name, module.to_string());
        }
    }
    map
}

/// The other top-level modules each top-level module's code names.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let reexports = root_reexports(&fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" {
            continue;
        }
        let code = code_of(&fs::read_to_string(&file).unwrap());
        let deps = graph.entry(module.clone()).or_default();
        let mut rest = code.as_str();
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let mut names = Vec::new();
            if rest.starts_with('{') {
                names_in_group(group_at(rest), true, &mut names);
            } else {
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                names.push(rest[..end].to_string());
            }
            for name in names {
                let target = reexports.get(&name).cloned().unwrap_or(name);
                if target != module && target != "self" {
                    deps.insert(target);
                }
            }
        }
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for deps in graph.values_mut() {
        deps.retain(|d| modules.contains(d));
    }
    graph
}

/// A cycle through `graph`, as the path of modules that closes it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn the_core_modules_import_no_cycle() {
    let graph = module_graph();
    // The reader sees what it must: the modules, and the edges that used to close cycles
    // now point one way only.
    assert!(graph.len() >= 25, "modules found: {:?}", graph.keys());
    assert!(graph["store"].contains("capability"));
    assert!(graph["host_funcs"].contains("store"));
    assert!(graph["bundle"].contains("error"));
    assert!(graph["runtime"].contains("tenant"));
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "import cycle among the core's modules: {}\nedges: {graph:#?}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let mut graph = module_graph();
    graph.get_mut("error").unwrap().insert("registry".into());
    let Some(cycle) = find_cycle(&graph) else {
        panic!("error -> registry -> error closes a cycle, and the check did not see it");
    };
    assert!(cycle.contains(&"error".to_string()), "{cycle:?}");
    assert!(cycle.contains(&"registry".to_string()), "{cycle:?}");
}
