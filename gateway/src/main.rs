fn main() {
    eprintln!("airq-gateway is not built yet; see the project issues");
    std::process::exit(2);
}
