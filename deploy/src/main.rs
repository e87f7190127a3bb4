fn main() {
    eprintln!("airq-deploy is not built yet; see the project issues");
    std::process::exit(2);
}
