//! The role table covers the API: every RPC of the protos has a row and every row an RPC.

use super::*;

/// Every `Service.Method` of the `dealdesk.v1` package, from the compiled descriptors.
fn proto_rpcs() -> BTreeSet<String> {
    let set = prost_types::FileDescriptorSet::decode(pb::FILE_DESCRIPTOR_SET).unwrap();
    set.file
        .iter()
        .filter(|f| f.package() == "dealdesk.v1")
        .flat_map(|f| &f.service)
        .flat_map(|s| {
            s.method
                .iter()
                .map(move |m| format!("{}.{}", s.name(), m.name()))
        })
        .collect()
}

#[test]
fn every_rpc_of_the_protos_has_a_row_and_every_row_an_rpc() {
    let rows: BTreeSet<String> = rows().into_iter().map(|r| r.rpc).collect();
    let rpcs = proto_rpcs();
    let missing: Vec<_> = rpcs.difference(&rows).collect();
    let unknown: Vec<_> = rows.difference(&rpcs).collect();
    assert!(missing.is_empty(), "RPCs without a row: {missing:?}");
    assert!(unknown.is_empty(), "rows naming no RPC: {unknown:?}");
}
