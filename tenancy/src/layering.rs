//! The folders of this crate form layers: each may import only the folders below it,
//! so no import circle crosses a folder. This test reads the sources and fails on an
//! import that climbs.

use std::{fs, path::Path};

/// The folders, lowest first; each may import only those before it.
const LAYERS: [&str; 12] = [
    "core",
    "runtime",
    "crypto",
    "cache",
    "journal",
    "keys",
    "management",
    "clients",
    "resources",
    "tenants",
    "accounts",
    "oauth",
];

/// The first path segments after every `crate::` in `code` (a `crate::{a, b::c}`
/// group gives `a` and `b`).
fn crate_roots(code: &str) -> Vec<String> {
    let mut roots = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut entry = String::new();
            let mut entries = Vec::new();
            for ch in group.chars() {
                match ch {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if ch == ',' && depth == 1 {
                    entries.push(std::mem::take(&mut entry));
                } else {
                    entry.push(ch);
                }
            }
            entries.push(entry);
            roots.extend(entries.iter().map(|e| first_segment(e.trim())));
        } else {
            roots.push(first_segment(rest));
        }
    }
    roots
}

fn first_segment(path: &str) -> String {
    path.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// A file's code without comments and without its test module.
fn code_of(source: &str) -> String {
    let source = source
        .find("#[cfg(test)]\nmod ")
        .map_or(source, |at| &source[..at]);
    source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_folder_imports_only_the_folders_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut climbing = Vec::new();
    for (level, folder) in LAYERS.iter().enumerate() {
        let mut files = Vec::new();
        rust_files(&src.join(folder), &mut files);
        assert!(!files.is_empty(), "no folder {folder}");
        for file in files {
            let code = code_of(&fs::read_to_string(&file).unwrap());
            for root in crate_roots(&code) {
                if let Some(target) = LAYERS.iter().position(|l| *l == root)
                    && target > level
                {
                    climbing.push(format!("{} imports {root}", file.display()));
                }
            }
        }
    }
    climbing.sort();
    climbing.dedup();
    assert!(
        climbing.is_empty(),
        "imports that climb:\n{}",
        climbing.join("\n")
    );
}

#[test]
fn every_folder_is_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                LAYERS.contains(&name.as_str()),
                "folder {name} is in no layer"
            );
        }
    }
}

#[test]
fn groups_and_paths_are_both_read() {
    let roots = crate_roots("use crate::{a::{self, B}, c};\nlet x = crate::d::e();");
    assert_eq!(roots, ["a", "c", "d"]);
}
