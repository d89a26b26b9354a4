/// The red-queen archive, MAP-Elites style (Digital Red Queen keeps one per round; here
/// it lives across rounds): one cell per attack family and strategy (the intent's goal),
/// each holding the fittest attack that ever got through there. Fitness is the attacker's
/// reward (bypass of the champions, past ones included, times fidelity). Old attacks stay
/// in play against new defenders, and new attackers mostly mutate an elite (see
/// `RedBlueSettings.freshShare`), so the archive is both the defenders' regression suite
/// and the attackers' stepping stones. An elite faced again is scored again against that
/// round's defenders (Digital Red Queen re-evaluates its archive), so its fitness is what
/// it does now: an attack that got through once, against weaker defenders, loses its cell
/// when they all hold. Bounded by families x goals.
public struct RedQueenArchive: Sendable {
    public struct Cell: Hashable, Sendable {
        public var family: Int
        public var goal: RedBlueDomain.Goal
    }

    struct Elite: Sendable {
        var attack: RedBlueEngine.Attack
        var fitness: Double
    }

    private var elites: [Cell: Elite] = [:]

    public var count: Int { elites.count }

    /// Offers an attack that got through: it takes its cell when the cell is empty or its
    /// elite is less fit (a tie keeps the elite: the older attack has proven itself).
    /// Returns whether it did.
    mutating func offer(_ attack: RedBlueEngine.Attack, goal: RedBlueDomain.Goal, fitness: Double) -> Bool {
        guard fitness > 0 else { return false }
        let cell = Cell(family: attack.family, goal: goal)
        if let elite = elites[cell], elite.fitness >= fitness { return false }
        elites[cell] = Elite(attack: attack, fitness: fitness)
        return true
    }

    /// Sets the fitness of `attack`, the elite of its cell, to what it scored now; at 0 it
    /// leaves the cell empty. Returns its fitness before, or nil when it holds no cell.
    mutating func rescore(_ attack: RedBlueEngine.Attack, goal: RedBlueDomain.Goal, fitness: Double) -> Double? {
        let cell = Cell(family: attack.family, goal: goal)
        guard let elite = elites[cell], elite.attack.id == attack.id else { return nil }
        elites[cell] = fitness > 0 ? Elite(attack: attack, fitness: fitness) : nil
        return elite.fitness
    }

    /// Every elite, fittest first (then older, then by id): a total order, so a seed replays.
    var ranked: [Elite] {
        elites.values.sorted { a, b in
            if a.fitness != b.fitness { return a.fitness > b.fitness }
            if a.attack.round != b.attack.round { return a.attack.round < b.attack.round }
            return a.attack.id < b.attack.id
        }
    }

    /// The elites the defenders face again this round: at most `limit`, fittest first.
    public func inPlay(limit: Int) -> [RedBlueEngine.Attack] {
        ranked.prefix(limit).map(\.attack)
    }

    /// The elite a new attack of `family` mutates: the fittest in the family's cells.
    func parent(family: Int) -> RedBlueEngine.Attack? {
        ranked.first { $0.attack.family == family }?.attack
    }
}
