//! Gateway tests: the real gateway on port 0, the real SQLite store and queue, real workers; separate
//! processes where the behaviour is about processes.

mod api;
mod aws;
mod browser;
mod conditional;
mod connections;
mod console;
mod contract;
mod durable;
mod fair;
mod hostile;
mod keys;
mod observe;
mod processes;
mod questions;
mod raw;
mod support;
