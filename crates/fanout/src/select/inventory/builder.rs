//! Building an [`Inventory`] from its parsed batches, in file order.
//!
//! Each batch's sections are checked and kept as they arrive, so nothing of
//! a batch's TOML tree outlives it. The checks across batches are the ones a
//! single document would get: a host named by two keys, a group or
//! `[defaults]` defined twice, and `@group` references (checked once every
//! group is known).

use std::sync::OnceLock;

use indexmap::IndexMap;
use indexmap::map::Entry as Slot;

use super::{
    Checker, DEFAULT_KEYS, Document, Entry, HOST_KEYS, Inventory, InventoryError, Rule, Settings,
    quote_key,
};
use crate::select::hosts;

/// An inventory under construction.
pub(super) struct Builder<'a> {
    checker: Checker<'a>,
    defaults: Option<Settings>,
    rules: Vec<Rule>,
    entries: IndexMap<Box<str>, Entry>,
    groups: Vec<(String, Vec<String>)>,
}

impl<'a> Builder<'a> {
    pub(super) fn new(checker: Checker<'a>) -> Self {
        Builder {
            checker,
            defaults: None,
            rules: Vec::new(),
            entries: IndexMap::new(),
            groups: Vec::new(),
        }
    }

    /// Checks and keeps the sections of one batch.
    pub(super) fn add(&mut self, doc: Document) -> Result<(), InventoryError> {
        let checker = &self.checker;
        if let Some(table) = &doc.defaults {
            // A later batch can only hold `[defaults.KEY]` sub-tables, which
            // the key check reports as it would in one document.
            let settings = checker.settings(table, "defaults", DEFAULT_KEYS)?;
            if self.defaults.is_some() {
                return Err(checker.invalid("defaults", "defined twice"));
            }
            self.defaults = Some(settings);
        }
        for (pattern, value) in doc.hosts.unwrap_or_default() {
            self.add_host_key(&pattern, &value)?;
        }
        for (name, value) in doc.groups.unwrap_or_default() {
            self.add_group(name, &value)?;
        }
        Ok(())
    }

    fn add_host_key(&mut self, pattern: &str, value: &toml::Value) -> Result<(), InventoryError> {
        let checker = &self.checker;
        let key = format!("hosts.{}", quote_key(pattern));
        let table = value
            .as_table()
            .ok_or_else(|| checker.invalid(&key, "expected a table"))?;
        let settings = checker.settings(table, &key, HOST_KEYS)?;
        let address = checker.opt_string(table, &key, "address")?;
        let port_base = checker.opt_port(table, &key, "port_base")?;
        if port_base.is_some() && settings.port.is_some() {
            return Err(checker.invalid(&key, "`port` and `port_base` cannot both be set"));
        }
        // The cap on hosts is on the whole inventory, counted before this
        // key is expanded.
        let size = hosts::size(pattern).map_err(|e| checker.invalid(&key, &e.to_string()))?;
        let before = self.entries.len();
        let total = (before as u64).saturating_add(size);
        if total > hosts::MAX_HOSTS {
            return Err(checker.invalid(
                &key,
                &format!(
                    "would bring the inventory to {total} hosts ({before} before it), more than {}",
                    hosts::MAX_HOSTS
                ),
            ));
        }
        let names = hosts::expand(pattern).map_err(|e| checker.invalid(&key, &e.to_string()))?;
        let rule = u32::try_from(self.rules.len())
            .map_err(|_| checker.invalid(&key, "too many host keys"))?;
        for (i, name) in names.into_iter().enumerate() {
            let port = match port_base {
                Some(base_port) => Some(
                    u16::try_from(i)
                        .ok()
                        .and_then(|i| base_port.checked_add(i))
                        .ok_or_else(|| {
                            checker.invalid(
                                &format!("{key}.port_base"),
                                "port_base + host index exceeds 65535",
                            )
                        })?,
                ),
                None => settings.port.or(name.port),
            };
            let user = match settings.user {
                Some(_) => None,
                None => name.user.map(String::into_boxed_str),
            };
            match self.entries.entry(name.host.into_boxed_str()) {
                Slot::Occupied(slot) => {
                    let first = self
                        .rules
                        .get(slot.get().rule as usize)
                        .map_or("another key", |r| &r.key);
                    return Err(checker.invalid(
                        &key,
                        &format!("host `{}` is already defined by {first}", slot.key()),
                    ));
                }
                Slot::Vacant(slot) => {
                    slot.insert(Entry { rule, port, user });
                }
            }
        }
        // Each entry holds its port already; without it, a key that sets
        // only `address` and `port` (the usual large inventory) keeps no
        // settings at all.
        let settings = Settings {
            port: None,
            ..settings
        };
        self.rules.push(Rule {
            key: key.into_boxed_str(),
            address: address.map(String::into_boxed_str),
            settings: (settings != Settings::default()).then(|| Box::new(settings)),
        });
        Ok(())
    }

    fn add_group(&mut self, name: String, value: &toml::Value) -> Result<(), InventoryError> {
        let checker = &self.checker;
        let key = format!("groups.{}", quote_key(&name));
        let list = value
            .as_array()
            .ok_or_else(|| checker.invalid(&key, "expected an array of host patterns"))?;
        if self.groups.iter().any(|(n, _)| *n == name) {
            return Err(checker.invalid(&key, "defined twice"));
        }
        let mut patterns = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let item_key = format!("{key}[{i}]");
            let pattern = item
                .as_str()
                .ok_or_else(|| checker.invalid(&item_key, "expected a string"))?;
            if !pattern.starts_with('@') {
                hosts::check(pattern).map_err(|e| checker.invalid(&item_key, &e.to_string()))?;
            }
            patterns.push(pattern.to_owned());
        }
        self.groups.push((name, patterns));
        Ok(())
    }

    /// The inventory, once every `@group` reference names a known group
    /// and no group includes itself.
    pub(super) fn finish(self) -> Result<Inventory, InventoryError> {
        let inventory = Inventory {
            path: self.checker.path.to_owned(),
            defaults: self.defaults.unwrap_or_default(),
            rules: self.rules,
            entries: self.entries,
            groups: self.groups,
            ssh_config: OnceLock::new(),
            default_identities: OnceLock::new(),
        };
        for (name, _) in &inventory.groups {
            inventory.check_references(name, &mut Vec::new())?;
        }
        Ok(inventory)
    }
}
