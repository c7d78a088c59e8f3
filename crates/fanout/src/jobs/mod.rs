//! The jobs that run on a host's one connection: [`exec`] runs the command.

pub(crate) mod exec;
