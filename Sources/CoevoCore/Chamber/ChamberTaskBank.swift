/// The chamber's built-in tasks for a real model: five niches with answers a string check
/// can grade, generated from the run's seed and the task id (so a replay asks the same
/// questions): arithmetic, unit conversion, string transformations, dates, logic. Answers
/// are stored in `AnswerNormalizer` form, the form replies are compared in.
public enum ChamberTaskBank {
    public static let niches = ["arithmetic", "unit-conversion", "string-transformation", "dates", "logic"]

    public static func task(seed: UInt64, id: Int, niche: Int) -> SimulatedTask {
        var rng = SeededGenerator(seed: seed ^ (UInt64(id) &* 0x9E37_79B9_7F4A_7C15) ^ 0xC4A3_B0C5)
        func pick<T>(_ options: [T]) -> T { options[Int(rng.next() % UInt64(options.count))] }
        func number(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(rng.next() % UInt64(range.count)) }
        let (question, answer): (String, String)
        switch niche % niches.count {
        case 0:
            let a = number(12...99), b = number(3...49)
            // Never a - b == b: read by its last number, the question itself would be right.
            let minuend = a == 2 * b ? a + 1 : a
            (question, answer) = pick([("What is \(a) + \(b)?", "\(a + b)"), ("What is \(minuend) - \(b)?", "\(minuend - b)"),
                                       ("What is \(a % 13 + 2) times \(b % 9 + 2)?", "\((a % 13 + 2) * (b % 9 + 2))")])
        case 1:
            let n = number(2...9)
            (question, answer) = pick([("How many minutes are in \(n) hours?", "\(n * 60)"),
                                       ("How many centimeters are in \(n) meters?", "\(n * 100)"),
                                       ("How many grams are in \(n) kilograms?", "\(n * 1000)"),
                                       ("How many seconds are in \(n) minutes?", "\(n * 60)")])
        case 2:
            let word = pick(["planet", "garden", "silver", "market", "rocket", "window", "candle", "forest"])
            let phrase = pick(["big red dog", "quiet green river", "old stone bridge", "happy little cat"])
            (question, answer) = pick([("Write the word '\(word)' backwards.", String(word.reversed())),
                                       ("What are the first letters of each word in '\(phrase)', written together?",
                                        String(phrase.split(separator: " ").map { $0.first! }))])
        case 3:
            let days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
            let start = number(0...6), offset = number(1...12)
            (question, answer) = ("What day of the week is \(offset) days after \(days[start].capitalized)?",
                                  days[(start + offset) % 7])
        default:
            let (a, b) = (pick(["bloops", "razzies", "glims", "tovs"]), pick(["lazzies", "wumps", "zorbs", "fips"]))
            let name = pick(["Tik", "Mo", "Pell", "Zan"])
            (question, answer) = pick([
                ("All \(a) are \(b). \(name) is one of the \(a). Is \(name) one of the \(b)? Answer yes or no.", "yes"),
                ("No \(a) are \(b). \(name) is one of the \(a). Is \(name) one of the \(b)? Answer yes or no.", "no"),
            ])
        }
        return SimulatedTask(id: id, niche: niche, difficulty: 0, correctAnswer: AnswerNormalizer.normalize(answer),
                             question: question)
    }
}
