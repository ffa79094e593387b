/// Conversions of doubles that never trap.
///
/// `Int64(value)` traps on NaN, infinity and anything beyond Int64's range; a double read from an event, an API
/// body or a stored row may be any of them. These round toward zero and saturate at the type's ends (0 for NaN).
extension Int64 {
    /// `value` toward zero, saturating at `Int64.min`/`Int64.max`; 0 for NaN.
    public init(saturating value: Double) {
        let whole = value.rounded(.towardZero)
        if let exact = Int64(exactly: whole) {
            self = exact
        } else if whole.isNaN {
            self = 0
        } else {
            self = whole < 0 ? .min : .max
        }
    }
}

extension Int {
    /// `value` toward zero, saturating at `Int.min`/`Int.max`; 0 for NaN.
    public init(saturating value: Double) {
        self = Int(Int64(saturating: value))
    }
}
