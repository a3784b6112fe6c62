//! Inputs that once broke a target, or that sit on an edge of its grammar, run through the
//! target on every `cargo test`. Add a crash found by `make fuzz` here once it is shrunk
//! (`cargo fuzz tmin`, see DEVELOPERS.md), with the target's name.
#![allow(clippy::panic)]

/// `(target, input)`: each input runs through the target of that name.
const CASES: &[(&str, &[u8])] = &[
    ("path", b""),
    ("path", b"\x7f/..;/%2e%2E/%c0%ae/%25%32%65"),
    ("path", b"\x41*"),
    ("path", b"\x3f/a/..%2f..%5c../b?x=/../#frag"),
    ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    ("traceparent", b"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-x"),
    ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n"),
    ("tracestate", b"a=1,b@c=2,,\t, a=3"),
    ("baggage", b"k = v ; p ,=x,k2=v2"),
    ("b3_single", b"80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-d-05e3ac9a4f6e3b90"),
    ("b3_multi", b"\x00463ac35c9f6413ad\n\x01a2fb4a1d1a96d312\n\x04\x31"),
    ("xfcc", b"By=spiffe://td/a;URI=\"spiffe://td/b,c\";URI=spiffe://td/d,DNS=x"),
    ("spiffe_id", b"spiffe://example.org/ns/shop/sa/frontend"),
    ("cidr", b"10.0.0.0/8\n10.1.2.3:40000\n[::ffff:10.1.2.3]:1\n::1"),
    ("json_config", br#"{"chain": [{"name": "header-normalization"}]}"#),
    ("json_config", b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"),
    ("json_config", b"\"\\ud800\""),
];

#[test]
fn every_listed_input_passes_its_target() {
    for (name, input) in CASES {
        let target = wasmesh_fuzz::TARGETS
            .iter()
            .find(|(target, _)| target == name)
            .map(|(_, target)| target);
        let Some(target) = target else {
            panic!("no target {name}");
        };
        target(input);
    }
}

#[test]
fn every_target_runs_on_empty_and_odd_inputs() {
    for (_, target) in wasmesh_fuzz::TARGETS {
        for input in [&b""[..], b"\n", b"\xff", b"\x00/", b"{}", b"[[[["] {
            target(input);
        }
    }
}
