extension AlertRule {
    /// What a rule's conditions need, as the storage adapters repeat it in flag columns next to the rule's JSON, so
    /// that the writer asks the database for only the rules an event can fire.
    package struct StoredFlags: Sendable, Hashable {
        package var onNew = false
        package var onRegression = false
        package var onReappeared = false
        package var countsEvents = false
        package var countsUsers = false
    }

    /// The flags of this rule's conditions. With "all", a rule needing several transitions at once could only fire
    /// on an event that has them all; asking for it on any of them is still correct (evaluation decides).
    package var storedFlags: StoredFlags {
        var flags = StoredFlags()
        for condition in conditions {
            switch condition {
            case .firstSeen: flags.onNew = true
            case .regression: flags.onRegression = true
            case .reappeared: flags.onReappeared = true
            case .eventFrequency: flags.countsEvents = true
            case .uniqueUserFrequency: flags.countsUsers = true
            }
        }
        return flags
    }
}
