// LEGACY: files written before storage tags.
//
// Until storages were tagged in the safetensors metadata (`<layer>.weight.storage`, see
// StorageTensors.swift), a compressed layer's storage was told apart by the suffixes of its tensor
// names. Such files are in users' hands and must keep loading: this is the one place that maps
// that old suffix layout to a tag. The tensors themselves are unchanged, so each storage's own
// `load` reads them. New storages are never added here: every file that has them is tagged.

/// The storage an untagged compressed layer was written in, told by the tensor that only that
/// storage wrote, or nil when none of them is present.  weight: `<layer>.weight`
func legacyStorageKind(_ src: WeightSource, weight w: String) -> StorageKind? {
    if src.has(w + ".kept_rows") { return .compacted }
    if src.has(w + ".positions") { return .twoFour }
    if src.has(w + ".bitmask") { return .bitmask }
    if src.has(w + ".col_indices") { return .csr }
    return nil
}
