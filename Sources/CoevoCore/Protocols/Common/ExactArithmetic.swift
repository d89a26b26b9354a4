/// Evaluates arithmetic exactly, for the proposer/solver verifier: integers and decimals,
/// `+ - * /`, `^` with an integer exponent (right associative), parentheses, unary minus.
/// With a value for `x`, the letter `x` is a number too (`3x` is `3 * x`), which is how
/// linear equations are checked. Anything else (other names, functions, a malformed
/// expression, overflow) is nil: the verifier then treats the text as unverifiable, never
/// as correct. No agent-written code runs.
public enum ExactArithmetic {
    public static func evaluate(_ text: String, x: Rational? = nil) -> Rational? {
        var parser = Parser(Array(text.utf8), x: x)
        guard let value = parser.expression(), parser.atEnd else { return nil }
        return value
    }

    struct Parser {
        let bytes: [UInt8]
        let x: Rational?
        var i = 0
        var depth = 0
        init(_ bytes: [UInt8], x: Rational?) {
            self.bytes = bytes
            self.x = x
        }

        var atEnd: Bool {
            mutating get { skipSpaces(); return i == bytes.count }
        }

        mutating func skipSpaces() { while i < bytes.count && bytes[i] == UInt8(ascii: " ") { i += 1 } }

        mutating func peek() -> UInt8? {
            skipSpaces()
            return i < bytes.count ? bytes[i] : nil
        }

        // expression := term (('+' | '-') term)*
        mutating func expression() -> Rational? {
            guard var value = term() else { return nil }
            while let op = peek(), op == UInt8(ascii: "+") || op == UInt8(ascii: "-") {
                i += 1
                guard let rhs = term(), let next = op == UInt8(ascii: "+") ? value + rhs : value - rhs else { return nil }
                value = next
            }
            return value
        }

        // term := unary (('*' | '/') unary)*
        mutating func term() -> Rational? {
            guard var value = unary() else { return nil }
            while let op = peek(), op == UInt8(ascii: "*") || op == UInt8(ascii: "/") {
                i += 1
                guard let rhs = unary(), let next = op == UInt8(ascii: "*") ? value * rhs : value / rhs else { return nil }
                value = next
            }
            return value
        }

        // unary := '-' unary | power
        mutating func unary() -> Rational? {
            if peek() == UInt8(ascii: "-") {
                i += 1
                guard let value = unary() else { return nil }
                return -value
            }
            if peek() == UInt8(ascii: "+") { i += 1; return unary() }
            return power()
        }

        // power := atom ('^' unary)?   (the exponent must be an integer)
        mutating func power() -> Rational? {
            guard let base = atom() else { return nil }
            guard peek() == UInt8(ascii: "^") else { return base }
            i += 1
            guard let exponent = unary(), exponent.denominator == 1 else { return nil }
            return base.power(exponent.numerator)
        }

        // atom := number ['x'] | 'x' | '(' expression ')'
        mutating func atom() -> Rational? {
            guard let c = peek() else { return nil }
            if c == UInt8(ascii: "x") || c == UInt8(ascii: "X") {
                i += 1
                return x
            }
            if c == UInt8(ascii: "(") {
                depth += 1
                guard depth <= 64 else { return nil }
                i += 1
                guard let value = expression(), peek() == UInt8(ascii: ")") else { return nil }
                i += 1
                depth -= 1
                return value
            }
            guard let value = number() else { return nil }
            // A coefficient written against the variable: 3x.
            if i < bytes.count, bytes[i] == UInt8(ascii: "x") || bytes[i] == UInt8(ascii: "X") {
                i += 1
                guard let x else { return nil }
                return value * x
            }
            return value
        }

        mutating func number() -> Rational? {
            var digits: Int64 = 0
            var scale: Int64 = 1
            var seenDigit = false, seenPoint = false
            while i < bytes.count {
                let c = bytes[i]
                if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                    let (m, o1) = digits.multipliedReportingOverflow(by: 10)
                    let (a, o2) = m.addingReportingOverflow(Int64(c - UInt8(ascii: "0")))
                    guard !o1 && !o2 else { return nil }
                    digits = a
                    if seenPoint {
                        let (s, o3) = scale.multipliedReportingOverflow(by: 10)
                        guard !o3 else { return nil }
                        scale = s
                    }
                    seenDigit = true
                } else if c == UInt8(ascii: ".") && !seenPoint {
                    seenPoint = true
                } else {
                    break
                }
                i += 1
            }
            return seenDigit ? Rational(digits, scale) : nil
        }
    }
}
