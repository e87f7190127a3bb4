fn main() {
    eprintln!("airq-loadtest is not built yet; see the project issues");
    std::process::exit(2);
}
