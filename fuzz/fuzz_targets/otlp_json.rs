//! The OTLP/JSON → protobuf converter on arbitrary bytes. Input: one byte (`p % 3`: traces,
//! logs, metrics; bit 2: the `any_id_length` variant), then the JSON body.
//!
//! No panic; when the conversion succeeds, the encoded request validates (without
//! `any_id_length`: ids then have OTLP's lengths) and decodes, and writing it back as JSON and
//! reading that again gives the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_proto::json;
use lookout_proto::wire::{validate_logs, validate_metrics, validate_traces};
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Some((&p, body)) = data.split_first() else {
        return;
    };
    let any = p & 4 != 0;
    match p % 3 {
        0 => {
            let read = if any {
                json::traces_from_json_any_id_length
            } else {
                json::traces_from_json
            };
            let Ok(req) = read(body) else { return };
            let pb = req.encode_to_vec();
            if !any {
                validate_traces(&pb).expect("converted request validates");
            }
            let mut js = Vec::new();
            json::traces_to_json(&req, &mut js);
            let again = read(&js).expect("own JSON reads back");
            assert!(
                again.encode_to_vec() == pb,
                "JSON round trip changed the request"
            );
        }
        1 => {
            let read = if any {
                json::logs_from_json_any_id_length
            } else {
                json::logs_from_json
            };
            let Ok(req) = read(body) else { return };
            let pb = req.encode_to_vec();
            if !any {
                validate_logs(&pb).expect("converted request validates");
            }
            let mut js = Vec::new();
            json::logs_to_json(&req, &mut js);
            let again = read(&js).expect("own JSON reads back");
            assert!(
                again.encode_to_vec() == pb,
                "JSON round trip changed the request"
            );
        }
        _ => {
            let read = if any {
                json::metrics_from_json_any_id_length
            } else {
                json::metrics_from_json
            };
            let Ok(req) = read(body) else { return };
            let pb = req.encode_to_vec();
            if !any {
                validate_metrics(&pb).expect("converted request validates");
            }
            let mut js = Vec::new();
            json::metrics_to_json(&req, &mut js);
            let again = read(&js).expect("own JSON reads back");
            assert!(
                again.encode_to_vec() == pb,
                "JSON round trip changed the request"
            );
        }
    }
});
