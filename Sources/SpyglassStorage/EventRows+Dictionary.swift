import GRDB
import SpyglassCore
import SpyglassStorageKit

extension EventRows {
    /// The blob to store for a settled payload. A payload that becomes its hash's dictionary is written to
    /// `payload_dictionary` here (`dictionary`: its id, for the caller to give the hash); a dictionary the hash
    /// has and the cache lacks is read for the cache. The cache gets either after the commit
    /// (``WriterBatch/dictionariesToCache``): it holds only ids of committed rows, which are never reused.
    static func storedPayload(
        _ settled: PayloadPlan.Settled, event: NormalizedEvent, projectID: Int64, batch: WriterBatch, in db: Database
    ) throws -> (blob: [UInt8], raw: Bool, dictionary: Int64?) {
        switch settled {
        case .store(let blob, let raw, let dictionaryToCache):
            if let id = dictionaryToCache, batch.lacksDictionary(id, projectID: projectID, hash: event.hashes[0]) {
                // A dictionary that does not read back is left out of the cache: its events fail on reading alone.
                // An error after which SQLite rolled the transaction back (a full disk) goes on up: the batch's next
                // statements must not run outside it.
                let payload: [UInt8]?
                do {
                    payload = try AppDatabase.dictionaryPayload(id, in: db)
                } catch let error as DatabaseError where !db.isInsideTransaction {
                    throw error
                } catch {
                    payload = nil
                }
                if let payload {
                    let dictionary = PayloadDictionary(id: id, payload: payload)
                    batch.cache(dictionary, projectID: projectID, hash: event.hashes[0])
                }
            }
            return (blob, raw, nil)
        case .makeDictionary(let data, let raw):
            try WriterStatement("INSERT INTO payload_dictionary (project_id, data) VALUES (?, ?)", in: db)
                .execute(projectID, BlobBinding(bytes: data))
            let id = db.lastInsertedRowID
            batch.cache(PayloadDictionary(id: id, payload: raw), projectID: projectID, hash: event.hashes[0])
            return (EventPayloadCodec.reference(to: id), true, id)
        }
    }
}
