//! Host selection and resolution: what the user typed (pdsh/clush
//! [`hosts`] patterns), the TOML [`inventory`] and [`ssh_config`] resolve to
//! one [`target::Target`] per host.

pub mod hosts;
pub(crate) mod inventory;
pub(crate) mod local_user;
pub mod ssh_config;
pub(crate) mod target;
