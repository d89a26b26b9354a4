import CoevoCLI

@main
struct Entry {
    static func main() async {
        await CoordinatorCommand.main()
    }
}
