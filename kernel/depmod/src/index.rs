//! The dependency index: which module provides each symbol, what each module
//! needs (transitively), and the text of `modules.dep` and `modules.alias`.
//!
//! Order in a `modules.dep` line is Linux's: every module is listed before the
//! modules it depends on itself (nearest first, a topological order), so
//! loading the list from its end back to its front never loads a module before
//! one it needs. Ties go by file name, so the output is deterministic.

use crate::{DepmodError, ModuleObject};
use std::collections::{BTreeSet, HashMap};

/// Modules with their resolved dependencies.
#[derive(Debug)]
pub struct Index {
    /// Sorted by file name.
    modules: Vec<ModuleObject>,
    /// Per module (same order): indices of every module it needs, each before
    /// its own dependencies.
    deps: Vec<Vec<usize>>,
    warnings: Vec<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Visit {
    New,
    InProgress,
    Done,
}

impl Index {
    /// Resolves the imports of `modules` against their exports; `kernel_exports`
    /// are the symbols the kernel itself provides (anything else unresolved is
    /// reported as a warning, as Linux's `depmod -e` does).
    pub fn build<'a>(
        mut modules: Vec<ModuleObject>,
        kernel_exports: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, DepmodError> {
        modules.sort_by(|a, b| a.file.cmp(&b.file));
        let mut warnings = Vec::new();

        let mut by_name: HashMap<&str, usize> = HashMap::new();
        for (i, m) in modules.iter().enumerate() {
            if let Some(&first) = by_name.get(m.name.as_str()) {
                return Err(DepmodError::DuplicateModule {
                    name: m.name.clone(),
                    first: modules[first].file.clone(),
                    second: m.file.clone(),
                });
            }
            by_name.insert(&m.name, i);
        }

        let mut provider: HashMap<&str, usize> = HashMap::new();
        for (i, m) in modules.iter().enumerate() {
            for sym in &m.exports {
                if let Some(&first) = provider.get(sym.as_str()) {
                    warnings.push(format!(
                        "{}: export {sym} is already exported by {}; using {}",
                        m.file, modules[first].file, modules[first].file
                    ));
                } else {
                    provider.insert(sym, i);
                }
            }
        }
        let kernel: BTreeSet<&str> = kernel_exports.into_iter().collect();

        let mut direct: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); modules.len()];
        for (i, m) in modules.iter().enumerate() {
            for sym in &m.imports {
                match provider.get(sym.as_str()) {
                    Some(&p) if p != i => {
                        direct[i].insert(p);
                    }
                    Some(_) => {}
                    None if kernel.contains(sym.as_str()) => {}
                    None => warnings.push(format!("{} needs unknown symbol {sym}", m.file)),
                }
            }
        }

        let mut deps = Vec::with_capacity(modules.len());
        for root in 0..modules.len() {
            let mut state = vec![Visit::New; modules.len()];
            let mut postorder = Vec::new();
            let mut path = Vec::new();
            visit(root, &direct, &mut state, &mut postorder, &mut path).map_err(|cycle| {
                DepmodError::Cycle(cycle.iter().map(|&i| modules[i].file.clone()).collect())
            })?;
            // Postorder puts dependencies before their users; reversed, every
            // module precedes what it needs. Drop the root itself (last).
            postorder.pop();
            postorder.reverse();
            deps.push(postorder);
        }
        Ok(Self {
            modules,
            deps,
            warnings,
        })
    }

    /// `modules.dep`: `FILE: DEP DEP ...` per module, sorted by file name.
    pub fn modules_dep(&self) -> String {
        let mut out = String::new();
        for (m, deps) in self.modules.iter().zip(&self.deps) {
            out.push_str(&m.file);
            out.push(':');
            for &d in deps {
                out.push(' ');
                out.push_str(&self.modules[d].file);
            }
            out.push('\n');
        }
        out
    }

    /// `modules.alias`: Linux's comment line, then `alias PATTERN NAME` lines.
    pub fn modules_alias(&self) -> String {
        let mut out = String::from("# Aliases extracted from modules themselves.\n");
        for m in &self.modules {
            for a in &m.aliases {
                out.push_str(&format!("alias {a} {}\n", m.name));
            }
        }
        out
    }

    /// Non-fatal findings (unknown symbols, symbols exported twice).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// Depth-first search from `node`, appending to `postorder`. On a cycle,
/// returns its modules with the first repeated at the end.
fn visit(
    node: usize,
    direct: &[BTreeSet<usize>],
    state: &mut [Visit],
    postorder: &mut Vec<usize>,
    path: &mut Vec<usize>,
) -> Result<(), Vec<usize>> {
    state[node] = Visit::InProgress;
    path.push(node);
    for &next in &direct[node] {
        match state[next] {
            Visit::New => visit(next, direct, state, postorder, path)?,
            Visit::InProgress => {
                let start = path.iter().position(|&p| p == next).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(next);
                return Err(cycle);
            }
            Visit::Done => {}
        }
    }
    path.pop();
    state[node] = Visit::Done;
    postorder.push(node);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(name: &str, exports: &[&str], imports: &[&str]) -> ModuleObject {
        ModuleObject {
            file: format!("{name}.ko"),
            name: name.to_string(),
            aliases: Vec::new(),
            exports: exports.iter().map(|s| s.to_string()).collect(),
            imports: imports.iter().map(|s| s.to_string()).collect(),
        }
    }

    const KERNEL: [&str; 2] = ["printk", "kmalloc"];

    #[test]
    fn user_of_hello_depends_on_hello() {
        let index = Index::build(
            vec![
                module("user_of_hello", &[], &["hello_add", "printk"]),
                module("hello", &["hello_add"], &["printk"]),
            ],
            KERNEL,
        )
        .unwrap();
        assert_eq!(
            index.modules_dep(),
            "hello.ko:\nuser_of_hello.ko: hello.ko\n"
        );
        assert!(index.warnings().is_empty());
    }

    #[test]
    fn dependencies_are_transitive_and_nearest_first() {
        // top -> mid -> base, and top -> base directly: base must come last.
        let index = Index::build(
            vec![
                module("top", &[], &["base_fn", "mid_fn"]),
                module("mid", &["mid_fn"], &["base_fn"]),
                module("base", &["base_fn"], &[]),
                module("alone", &[], &["printk"]),
            ],
            KERNEL,
        )
        .unwrap();
        assert_eq!(
            index.modules_dep(),
            "alone.ko:\nbase.ko:\nmid.ko: base.ko\ntop.ko: mid.ko base.ko\n"
        );
    }

    #[test]
    fn aliases_are_listed_with_the_module_name() {
        let mut blk = module("virtio_blk", &[], &[]);
        blk.file = "virtio-blk.ko".into();
        blk.aliases = vec!["virtio:d00000002v*".into()];
        let index = Index::build(vec![blk], KERNEL).unwrap();
        assert_eq!(
            index.modules_alias(),
            "# Aliases extracted from modules themselves.\nalias virtio:d00000002v* virtio_blk\n"
        );
    }

    #[test]
    fn unknown_and_duplicate_symbols_are_warnings() {
        let index = Index::build(
            vec![
                module("a", &["f"], &["nowhere"]),
                module("b", &["f"], &[]),
                module("c", &[], &["f"]),
            ],
            KERNEL,
        )
        .unwrap();
        assert_eq!(
            index.warnings(),
            [
                "b.ko: export f is already exported by a.ko; using a.ko",
                "a.ko needs unknown symbol nowhere"
            ]
        );
        assert_eq!(index.modules_dep(), "a.ko:\nb.ko:\nc.ko: a.ko\n");
    }

    #[test]
    fn a_cycle_is_an_error_naming_it() {
        let err = Index::build(
            vec![module("a", &["fa"], &["fb"]), module("b", &["fb"], &["fa"])],
            KERNEL,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "Cycle detected: a.ko -> b.ko -> a.ko");
    }

    #[test]
    fn two_files_with_one_module_name_is_an_error() {
        let mut second = module("hello", &[], &[]);
        second.file = "hello2.ko".into();
        let err = Index::build(vec![module("hello", &[], &[]), second], KERNEL).unwrap_err();
        assert_eq!(
            err.to_string(),
            "module hello is defined twice: by hello.ko and by hello2.ko"
        );
    }
}
