//! The shape of the common crate, checked from its source: imports run functions -> wings -> floor,
//! a wing never imports another wing, the floor imports no wing, the load wing's layers only look
//! down, no two files import each other (directly or round a circle), and a long file says why it
//! is long.
//!
//! Every path into the crate counts, whether in a `use` line, in a group (`crate::{a, b}`) or written
//! inline in code (`crate::backup::service::run(..)`), and `super::` paths are resolved.

use std::fs;
use std::path::{Path, PathBuf};

const WINGS: [&str; 4] = ["alert", "backup", "load", "restore"];
/// The load wing's layers, lowest first: each may use only those before it (and itself).
const LOAD_LAYERS: [&[&str]; 4] = [
    &["read"],
    &["write"],
    &[
        "summary",
        "checkpoint",
        "repeats",
        "report",
        "progress",
        "file",
    ],
    &["plan"],
];
/// The wing's own configuration reads the environment for every layer, so it may use them all.
const LOAD_TOP: [&str; 1] = ["config"];
const MAX_LINES: usize = 500;
/// What the first comment of a longer file must say.
const LONG_FILE_REASON: &str = "Longer than 500 lines because";

/// One source file: its module path (`["load", "plan", "run"]`) and text.
struct Module {
    path: Vec<String>,
    file: PathBuf,
    text: String,
}

fn modules(src: &Path) -> Vec<Module> {
    let mut found = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let file = entry.unwrap().path();
            if file.is_dir() {
                dirs.push(file);
                continue;
            }
            if file.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = file.strip_prefix(src).unwrap().with_extension("");
            let mut path: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(path.last().map(String::as_str), Some("mod" | "lib")) {
                path.pop();
            }
            let text = fs::read_to_string(&file).unwrap();
            found.push(Module { path, file, text });
        }
    }
    found
}

/// The code of a file with comments and string literals blanked, so that a path in a doc comment
/// or a message is not taken for an import.
fn code_only(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            i += end;
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(rest.len(), |e| e + 2);
            i += end;
        } else if rest.starts_with("r#\"") || rest.starts_with("r\"") {
            let hashes = rest[1..].chars().take_while(|&c| c == '#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let body = 2 + hashes;
            let end = rest[body..]
                .find(&close)
                .map_or(rest.len(), |e| body + e + close.len());
            out.push_str("\"\"");
            i += end;
        } else if rest.starts_with('"') {
            let mut j = 1;
            while j < rest.len() {
                match rest.as_bytes()[j] {
                    b'\\' => j += 2,
                    b'"' => break,
                    _ => j += 1,
                }
            }
            out.push_str("\"\"");
            i += (j + 1).min(rest.len());
        } else if rest.starts_with("'\"'") {
            i += 3;
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every module path a file reaches into the crate by, resolved from the crate root: the first
/// two segments are enough to tell the wing and its part.
fn crate_paths(module: &Module) -> Vec<Vec<String>> {
    let code = code_only(&module.text);
    let tokens = tokenize(&code);
    let mut paths = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let start_of_path = i == 0 || tokens[i - 1] != "::";
        let base: Option<Vec<String>> = match tokens[i].as_str() {
            "crate" if start_of_path => Some(Vec::new()),
            "super" if start_of_path => {
                let mut base = module.path.clone();
                let mut j = i;
                while tokens.get(j).map(String::as_str) == Some("super") {
                    base.pop();
                    if tokens.get(j + 1).map(String::as_str) == Some("::")
                        && tokens.get(j + 2).map(String::as_str) == Some("super")
                    {
                        j += 2;
                    } else {
                        break;
                    }
                }
                i = j;
                Some(base)
            }
            _ => None,
        };
        if let Some(base) = base {
            paths.extend(expand(&tokens, i + 1, base));
        }
        i += 1;
    }
    paths
}

/// The paths after `at` (which should be `::`), groups included: `::{a::b, c}` gives base+a+b and
/// base+c.
fn expand(tokens: &[String], at: usize, base: Vec<String>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut path = base;
    let mut i = at;
    while tokens.get(i).map(String::as_str) == Some("::") {
        match tokens.get(i + 1).map(String::as_str) {
            Some("{") => {
                let mut depth = 0;
                let mut item_start = i + 2;
                let mut j = i + 1;
                while j < tokens.len() {
                    match tokens[j].as_str() {
                        "{" => depth += 1,
                        "}" => {
                            depth -= 1;
                            if depth == 0 {
                                out.extend(group_item(tokens, item_start, j, &path));
                                break;
                            }
                        }
                        "," if depth == 1 => {
                            out.extend(group_item(tokens, item_start, j, &path));
                            item_start = j + 1;
                        }
                        _ => {}
                    }
                    j += 1;
                }
                return out;
            }
            Some(name) if name.chars().all(is_ident) => {
                path.push(name.to_string());
                i += 2;
            }
            _ => break,
        }
    }
    out.push(path);
    out
}

/// One item of a group, `tokens[start..end]`: a name, a path, or a nested group.
fn group_item(tokens: &[String], start: usize, end: usize, base: &[String]) -> Vec<Vec<String>> {
    let Some(first) = tokens.get(start).filter(|_| start < end) else {
        return Vec::new();
    };
    if first == "self" || !first.chars().all(is_ident) {
        return vec![base.to_vec()];
    }
    let mut path = base.to_vec();
    path.push(first.clone());
    expand(&tokens[..end], start + 1, path)
}

fn tokenize(code: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if is_ident(c) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push("::".into());
            i += 2;
        } else if c.is_whitespace() {
            i += 1;
        } else {
            tokens.push(c.to_string());
            i += 1;
        }
    }
    tokens
}

/// What a module may not import, or `None` when all is allowed. Each broken rule is one line.
fn violations(module: &Module) -> Vec<String> {
    let own_wing = module
        .path
        .first()
        .filter(|first| WINGS.contains(&first.as_str()));
    let mut broken = Vec::new();
    for target in crate_paths(module) {
        let Some(target_top) = target.first() else {
            continue;
        };
        let shown = format!("crate::{}", target.join("::"));
        if !WINGS.contains(&target_top.as_str()) {
            continue; // the floor is open to all
        }
        match own_wing {
            None if module.path.is_empty() => {} // lib.rs declares the wings
            None => broken.push(format!("the floor imports a wing: {shown}")),
            Some(wing) if wing != target_top => {
                broken.push(format!("wing {wing} imports another wing: {shown}"))
            }
            Some(wing) if wing == "load" => {
                let layer_of = |path: &[String]| {
                    let part = path.get(1).map(String::as_str)?;
                    if LOAD_TOP.contains(&part) {
                        return Some(LOAD_LAYERS.len());
                    }
                    LOAD_LAYERS.iter().position(|layer| layer.contains(&part))
                };
                if let (Some(from), Some(to)) = (layer_of(&module.path), layer_of(&target))
                    && to > from
                {
                    broken.push(format!(
                        "load layer {} imports a layer above it: {shown}",
                        module.path[1]
                    ));
                }
            }
            Some(_) => {}
        }
    }
    broken
}

fn src() -> PathBuf {
    // At run time: a shared target directory may hold this test compiled in another checkout.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test");
    Path::new(&manifest).join("src")
}

#[test]
fn imports_run_one_way() {
    let mut broken = Vec::new();
    for module in modules(&src()) {
        for why in violations(&module) {
            broken.push(format!("{}: {why}", module.file.display()));
        }
    }
    broken.sort();
    broken.dedup();
    assert!(broken.is_empty(), "\n{}", broken.join("\n"));
}

#[test]
fn every_wing_and_load_layer_exists() {
    let found = modules(&src());
    let has = |path: &[&str]| found.iter().any(|m| m.path == path);
    for wing in WINGS {
        assert!(has(&[wing]), "wing {wing} is missing");
    }
    for part in LOAD_LAYERS.iter().flat_map(|layer| layer.iter()) {
        assert!(has(&["load", part]), "load layer {part} is missing");
    }
}

#[test]
fn long_files_say_why() {
    let mut long = Vec::new();
    for module in modules(&src()) {
        let lines = module.text.lines().count();
        let first_comment: String = module
            .text
            .lines()
            .take_while(|l| l.starts_with("//"))
            .collect::<Vec<_>>()
            .join(" ");
        if lines > MAX_LINES && !first_comment.contains(LONG_FILE_REASON) {
            long.push(format!("{}: {lines} lines", module.file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines with no \"{LONG_FILE_REASON} ...\" in the first comment:\n{}",
        long.join("\n")
    );
}

/// The files each file imports from (the longest module path that is a file), its own tests left
/// out: a test module may look anywhere.
fn file_imports(found: &[Module]) -> Vec<(Vec<String>, Vec<Vec<String>>)> {
    let files: Vec<&Vec<String>> = found.iter().map(|m| &m.path).collect();
    found
        .iter()
        .map(|module| {
            let code = module.text.split("#[cfg(test)]").next().unwrap_or_default();
            let without_tests = Module {
                path: module.path.clone(),
                file: module.file.clone(),
                text: code.to_string(),
            };
            let mut targets: Vec<Vec<String>> = crate_paths(&without_tests)
                .into_iter()
                .filter_map(|path| {
                    (1..=path.len())
                        .rev()
                        .map(|n| path[..n].to_vec())
                        .find(|prefix| files.contains(&prefix))
                })
                // A parent module (`mod.rs`) only declares its children.
                .filter(|target| !module.path.starts_with(target))
                .collect();
            targets.sort();
            targets.dedup();
            (module.path.clone(), targets)
        })
        .collect()
}

/// Each circle of imports, as the files round it.
fn circles(graph: &[(Vec<String>, Vec<Vec<String>>)]) -> Vec<String> {
    let mut found = Vec::new();
    for (start, _) in graph {
        // Paths from `start`, depth first; a path back to `start` is a circle.
        let mut stack = vec![vec![start.clone()]];
        let mut seen = vec![start.clone()];
        while let Some(path) = stack.pop() {
            let last = path.last().unwrap();
            let next = graph.iter().find(|(file, _)| file == last).map(|(_, t)| t);
            for target in next.into_iter().flatten() {
                if target == start {
                    let mut names: Vec<String> = path.iter().map(|p| p.join("::")).collect();
                    names.push(start.join("::"));
                    found.push(names.join(" -> "));
                } else if !seen.contains(target) {
                    seen.push(target.clone());
                    let mut longer = path.clone();
                    longer.push(target.clone());
                    stack.push(longer);
                }
            }
        }
    }
    found
}

#[test]
fn no_files_import_each_other() {
    let circles = circles(&file_imports(&modules(&src())));
    assert!(
        circles.is_empty(),
        "files importing each other, round a circle:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_circle_check_finds_a_circle() {
    let module = |path: &[&str], text: &str| Module {
        path: path.iter().map(|s| s.to_string()).collect(),
        file: PathBuf::from("example.rs"),
        text: text.to_string(),
    };
    let found = [
        module(&["load"], "pub mod a; pub mod b; pub mod c;"),
        module(&["load", "a"], "use crate::load::b::Thing;"),
        module(&["load", "b"], "fn f() { crate::load::c::run() }"),
        module(
            &["load", "c"],
            "use super::a::Other;\n#[cfg(test)]\nuse crate::load::b;",
        ),
    ];
    let round = circles(&file_imports(&found));
    assert_eq!(round.len(), 3, "{round:?}");
    assert!(round.contains(&"load::a -> load::b -> load::c -> load::a".to_string()));
    let without_c = circles(&file_imports(&found[..3]));
    assert!(without_c.is_empty(), "{without_c:?}");
}

/// The checker itself: each kind of path is seen, and nothing in comments or strings is.
#[test]
fn the_scan_sees_every_way_of_writing_a_path() {
    let module = |path: &[&str], text: &str| Module {
        path: path.iter().map(|s| s.to_string()).collect(),
        file: PathBuf::from("example.rs"),
        text: text.to_string(),
    };
    let cases: [(&[&str], &str, &str); 8] = [
        (
            &["restore", "service"],
            "use crate::backup::service::BackupService;",
            "wing restore imports another wing: crate::backup::service::BackupService",
        ),
        (
            &["alert", "notifier"],
            "use crate::{env::list, restore::{service::RestoreService}};",
            "wing alert imports another wing: crate::restore::service::RestoreService",
        ),
        (
            &["alert", "notifier"],
            "fn f() { let x = crate::load::file::Loader::new(); }",
            "wing alert imports another wing: crate::load::file::Loader::new",
        ),
        (
            &["backup", "service"],
            "use super::super::alert::events::JobEvent;",
            "wing backup imports another wing: crate::alert::events::JobEvent",
        ),
        (
            &["topic"],
            "use crate::alert::message::job_alert;",
            "the floor imports a wing: crate::alert::message::job_alert",
        ),
        (
            &["load", "file"],
            "use crate::load::plan::run::run_plan;",
            "load layer file imports a layer above it: crate::load::plan::run::run_plan",
        ),
        (
            &["load", "read", "row"],
            "use super::super::write::batch::PendingItem;",
            "load layer read imports a layer above it: crate::load::write::batch::PendingItem",
        ),
        (
            &["load", "plan", "run"],
            "use crate::load::file::Loader;",
            "",
        ),
    ];
    for (path, text, expect) in cases {
        let found = violations(&module(path, text));
        let expected: Vec<String> = Some(expect.to_string())
            .filter(|e| !e.is_empty())
            .into_iter()
            .collect();
        assert_eq!(found, expected, "{text}");
    }
    let quiet = module(
        &["alert", "notifier"],
        "// crate::backup::x\n/// crate::load::y\nlet s = \"crate::restore::z\";\nuse crate::env::list;",
    );
    assert_eq!(violations(&quiet), Vec::<String>::new());
}
