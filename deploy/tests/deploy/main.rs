//! airq-deploy's integration tests: the AWS provider end to end on the emulator (moto), AWS errors, the local
//! provider with real worker processes, the user data under shellcheck, the binary's command line (and that
//! commands needing no AWS never load its configuration), and every command the README shows.

mod aws;
mod cli;
mod errors;
mod local;
mod no_aws;
mod readme;
mod support;
mod userdata;
