//! `openapi.yaml` and the code must describe the same API: every served route is documented
//! with the function that serves it, and every documented route is served.

use std::collections::BTreeSet;

use portal::routes::{Function, ROUTES};

fn spec() -> serde_yaml::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("openapi.yaml: {e}"))
}

/// (METHOD, path, x-function) for every documented operation.
fn documented() -> BTreeSet<(String, String, String)> {
    let spec = spec();
    let mut ops = BTreeSet::new();
    let paths = spec["paths"].as_mapping().unwrap_or_else(|| panic!("no paths"));
    for (path, item) in paths {
        let path = path.as_str().unwrap_or_default().to_owned();
        for (method, op) in item.as_mapping().into_iter().flatten() {
            let method = method.as_str().unwrap_or_default();
            if !["get", "post", "put", "delete", "patch"].contains(&method) {
                continue;
            }
            let function = op["x-function"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no x-function"));
            ops.insert((method.to_uppercase(), path.clone(), function.to_owned()));
        }
    }
    ops
}

#[test]
fn every_served_route_is_documented_with_its_function() {
    let documented = documented();
    for (method, path, function) in ROUTES {
        let entry = (method.to_string(), path.to_string(), function.name().to_owned());
        assert!(
            documented.contains(&entry),
            "{method} {path} ({}) is not in openapi.yaml",
            function.name()
        );
    }
}

#[test]
fn every_documented_lambda_route_is_served() {
    let served: BTreeSet<(String, String, String)> = ROUTES
        .iter()
        .map(|(m, p, f)| (m.to_string(), p.to_string(), f.name().to_owned()))
        .collect();
    let lambda_names: BTreeSet<&str> = Function::ALL.iter().map(|f| f.name()).collect();
    for entry in documented() {
        if entry.2 == "portal-local" {
            continue;
        }
        assert!(
            lambda_names.contains(entry.2.as_str()),
            "{entry:?} names an unknown function"
        );
        assert!(served.contains(&entry), "{entry:?} is documented but not served");
    }
}

#[test]
fn every_operation_documents_its_errors_as_problems() {
    let spec = spec();
    for (path, item) in spec["paths"].as_mapping().into_iter().flatten() {
        for (method, op) in item.as_mapping().into_iter().flatten() {
            let Some(responses) = op["responses"].as_mapping() else {
                continue;
            };
            for (status, response) in responses {
                let status = status.as_str().unwrap_or_default();
                if status.starts_with('4') || status.starts_with('5') {
                    let reference = response["$ref"].as_str().unwrap_or_default();
                    assert!(
                        reference.starts_with("#/components/responses/"),
                        "{method:?} {path:?} {status} is not a shared problem response"
                    );
                }
            }
            if op["security"].as_sequence().is_some_and(|s| !s.is_empty()) {
                assert!(
                    responses.contains_key("401"),
                    "{method:?} {path:?} is authenticated but documents no 401"
                );
            }
        }
    }
}
