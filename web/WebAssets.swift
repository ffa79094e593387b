// The files in templates/ and static/, compiled into the binary (SwiftPM `embedInCode` resources), so a
// Spyglass install is one file. SpyglassWeb reads them from here; a file added to either folder is listed below.

public enum WebAssets {
    /// Mustache templates by name (the file name without `.mustache`).
    public static let templates: [String: [UInt8]] = [
        "layout": PackageResources.layout_mustache,
        "login": PackageResources.login_mustache,
        "issues": PackageResources.issues_mustache,
        "issue": PackageResources.issue_mustache,
        "message": PackageResources.message_mustache,
        "account": PackageResources.account_mustache,
        "releases": PackageResources.releases_mustache,
        "release": PackageResources.release_mustache,
        "issue-list": PackageResources.issue_list_mustache,
        "project-settings": PackageResources.project_settings_mustache,
        "alert-rules": PackageResources.alert_rules_mustache,
        "alert-rule": PackageResources.alert_rule_mustache,
        "admin": PackageResources.admin_mustache,
        "confirmation": PackageResources.confirmation_mustache,
        "range-picker": PackageResources.range_picker_mustache,
        "logs": PackageResources.logs_mustache,
        "log-rows": PackageResources.log_rows_mustache,
    ]

    /// Static files by name, with their content type.
    public static let files: [String: (bytes: [UInt8], contentType: String)] = [
        "spyglass.css": (PackageResources.spyglass_css, "text/css; charset=utf-8"),
        "spyglass.js": (PackageResources.spyglass_js, "text/javascript; charset=utf-8"),
        "favicon.svg": (PackageResources.favicon_svg, "image/svg+xml"),
    ]
}
