/// The column lists both adapters read issues, events and activity entries with: the schemas match column for column,
/// and `"user"` is quoted (a reserved word in PostgreSQL; SQLite takes the quotes too).
package enum StoredColumns {
    /// An issue with its project and assignee (`issue`, `project`, `assignee`).
    package static let issue = """
        issue.id, issue.short_id, issue.title, issue.culprit, issue.type, issue.metadata, issue.level, issue.status,
        issue.substatus, issue.first_seen, issue.last_seen, issue.times_seen, issue.user_count, issue.first_release,
        issue.last_release, issue.resolution, issue.resolution_release, issue.ignore_state,
        project.id AS project_id, project.slug AS project_slug, project.name AS project_name,
        project.created_at AS project_created_at,
        assignee.id AS assignee_id, assignee.email AS assignee_email, assignee.is_admin AS assignee_is_admin
        FROM issue JOIN project ON project.id = issue.project_id LEFT JOIN "user" AS assignee ON assignee.id = issue.assignee_id
        """

    /// A stored event with what reading its payload needs.
    package static let event =
        "event_id, project_id, issue_id, timestamp, received, payload, primary_hash, payload_raw, sent_at, client_ip FROM event"

    /// An activity entry (`a`) with its user (`u`).
    package static let activity = """
        a.id, a.type, a.data, a.created_at, u.id AS user_id, u.email AS user_email, u.is_admin AS user_is_admin
        FROM issue_activity a LEFT JOIN "user" u ON u.id = a.user_id
        """
}
