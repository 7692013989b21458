//! Every operation of the four models is routed from a request as an SDK lays it out and,
//! while not built, answers 501 `NotImplementedException` naming it.

mod common;

use carillon_awsapi::{invoke, resolve, ServiceId, Services};

#[tokio::test]
async fn every_operation_resolves_and_answers_not_implemented() {
    let services = Services::not_implemented();
    let ctx = common::ctx();
    let mut count = 0;
    for service in ServiceId::ALL {
        let model = common::model(service);
        let operations = model["operations"].as_object().unwrap();
        assert_eq!(operations.len(), service.spec().operations.len());
        for (name, op) in operations {
            let input = match op["input"]["shape"].as_str() {
                Some(shape) => common::synth(&model, shape),
                None => serde_json::json!({}),
            };
            let (parts, body) = common::request(service, &model, name, &input);
            let resolved = resolve(service, &parts).unwrap_or_else(|e| {
                panic!("{name}: {} {} not routed: {e}", parts.method, parts.uri)
            });
            assert_eq!(resolved.name(), name, "{} {}", parts.method, parts.uri);
            assert_eq!(resolved.service(), service);
            assert_eq!(
                resolved.iam_action(),
                format!("{}:{name}", service.signing_name())
            );

            let invocation = invoke(&services, &resolved, &ctx, &parts, body).await;
            let response = &invocation.response;
            assert_eq!(response.status(), 501, "{name}: {:?}", response.body());
            assert_eq!(
                response.headers()["x-amzn-ErrorType"],
                "NotImplementedException"
            );
            assert_eq!(response.headers()["x-amzn-RequestId"], "req-1");
            let error = invocation.error.expect("an error");
            assert_eq!(error.code, "NotImplementedException");
            assert!(error.message.contains(name.as_str()), "{}", error.message);
            assert!(invocation.response_elements.is_none());
            assert!(invocation.request_parameters.is_object(), "{name}");
            count += 1;
        }
    }
    assert_eq!(count, 200);
}
