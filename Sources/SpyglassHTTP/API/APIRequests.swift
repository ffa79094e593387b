import Foundation
import SpyglassCore
import SpyglassProtocol

// The REST API's request bodies whose shape is fixed, as Sentry's clients (sentry-cli, the web app) send them.
// ``APIJSON/decode(_:_:context:)`` reads them and answers what does not fit with a 400 naming the field; what the
// types cannot say (ranges, known names) the handlers check. Alert rules stay JSON: their conditions, filters and
// actions are Sentry's lists of `{"id": "sentry.rules.…", …}` whose fields depend on the id, read by the one parser
// the web form and the stored rules share (``AlertRule/init(json:id:secret:)``).

/// `PUT /issues/{id}/` and `PUT /projects/{org}/{project}/issues/?id=…`: `status` with `statusDetails`,
/// `substatus`, `assignedTo`, or (bulk only) `merge`.
struct IssueUpdateRequest: Decodable {
    struct StatusDetails: Decodable {
        var inNextRelease: Bool?
        var inRelease: String?
        var ignoreCount: Int64?
        var ignoreUserCount: Int64?
        /// Minutes.
        var ignoreDuration: Int64?
        var ignoreUntil: APITimestamp?
        var ignoreUntilEscalating: Bool?
    }

    var status: String?
    var statusDetails: StatusDetails?
    var substatus: String?
    /// Absent: unchanged; `null` or `""`: unassigned; an e-mail address, `user:<e-mail>` or `me`.
    var assignedTo: String??
    /// `true` or `1` (Sentry's web app sends either).
    var merge: Bool

    enum CodingKeys: String, CodingKey { case status, statusDetails, substatus, assignedTo, merge }

    init(from decoder: any Decoder) throws {
        let body = try decoder.container(keyedBy: CodingKeys.self)
        status = try body.decodeIfPresent(String.self, forKey: .status)
        statusDetails = try body.decodeIfPresent(StatusDetails.self, forKey: .statusDetails)
        substatus = try body.decodeIfPresent(String.self, forKey: .substatus)
        if body.contains(.assignedTo) { assignedTo = .some(try body.decodeIfPresent(String.self, forKey: .assignedTo)) }
        merge = false
        if body.contains(.merge), !(try body.decodeNil(forKey: .merge)) {
            if let flag = try? body.decode(Bool.self, forKey: .merge) {
                merge = flag
            } else if let number = try? body.decode(Int64.self, forKey: .merge), number == 0 || number == 1 {
                merge = number == 1
            } else {
                throw Swift.DecodingError.typeMismatch(
                    Bool.self, .init(codingPath: body.codingPath + [CodingKeys.merge], debugDescription: "expected true, false, 1 or 0"))
            }
        }
    }
}

/// A release to create or change (`POST`/`PUT` of `/organizations/{org}/releases/…` and the project's), as
/// sentry-cli's `releases new`, `finalize` and `set-commits` send it.
struct ReleaseRequest: Decodable {
    var version: String?
    var projects: [String]?
    var ref: String?
    var url: String?
    var dateReleased: APITimestamp?
    /// From local git (`set-commits --local`).
    var commits: [CommitRequest]?
    /// A repository's head (`set-commits --auto` / `--commit`).
    var refs: [RefRequest]?

    var change: ReleaseChange { ReleaseChange(ref: ref, url: url, dateReleased: dateReleased?.date) }
}

/// One commit as sentry-cli's `set-commits --local` sends it.
struct CommitRequest: Decodable {
    struct ChangedFile: Decodable {
        var path: String
        /// A, M or D.
        var type: String
    }

    var id: String
    var repository: String?
    var message: String?
    var authorName: String?
    var authorEmail: String?
    var timestamp: APITimestamp?
    var patchSet: [ChangedFile]?

    enum CodingKeys: String, CodingKey {
        case id, repository, message, timestamp
        case authorName = "author_name", authorEmail = "author_email", patchSet = "patch_set"
    }
}

/// `{repository, commit, previousCommit}`: a repository's head commit.
struct RefRequest: Decodable {
    var repository: String
    var commit: String
    var previousCommit: String?
}

/// `POST /organizations/{org}/releases/{version}/deploys/`.
struct DeployRequest: Decodable {
    var environment: String
    var name: String?
    var url: String?
    var dateStarted: APITimestamp?
    var dateFinished: APITimestamp?
    var projects: [String]?
}

/// `POST /issues/{id}/comments/`.
struct CommentRequest: Decodable {
    var text: String
}

/// `POST /organizations/{org}/repos/`.
struct RepositoryRequest: Decodable {
    var name: String
    var url: String?
    var provider: String?
}

/// `PUT /projects/{org}/{project}/`: `resolveAge` in hours, 0 for off.
struct ProjectSettingsRequest: Decodable {
    var resolveAge: Double?
}

/// `POST /organizations/{org}/artifactbundle/assemble/`, as sentry-cli sends it.
struct AssembleRequest: Decodable {
    var checksum: String
    var chunks: [String]
    var projects: [String]?
    var version: String?
    var dist: String?
}

/// Its answer: `ok`, `not_found` with the chunks still missing, or `error` with the reason.
struct AssembleAnswer: Encodable {
    var state: String
    var missingChunks: [String]
    var detail: String?
}

/// A time as SDKs and sentry-cli send one: an RFC 3339 string or epoch seconds (``Timestamp/parse(_:)``), from
/// 1970 to 9999.
struct APITimestamp: Decodable {
    var date: Date

    init(from decoder: any Decoder) throws {
        guard let date = Timestamp.parse(try JSONValue(from: decoder)) else {
            throw Swift.DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: Timestamp.expected))
        }
        self.date = date
    }
}
