//! The jobs that run on a host's one connection: [`copy`] moves files
//! over SFTP (first, when asked), [`exec`] runs the commands.

pub(crate) mod copy;
pub(crate) mod exec;
