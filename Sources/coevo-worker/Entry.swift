import CoevoCLI

@main
struct Entry {
    static func main() async {
        await WorkerCommand.main()
    }
}
