//! airq-deploy's integration tests: the AWS provider end to end on the emulator (moto), AWS errors, the local
//! provider with real worker processes, the user data under shellcheck, and the binary's command line.

mod aws;
mod cli;
mod errors;
mod local;
mod support;
mod userdata;
