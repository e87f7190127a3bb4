fn main() {
    eprintln!("airq-worker is not built yet; see the project issues");
    std::process::exit(2);
}
