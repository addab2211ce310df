//! A real configuration deploys: a generated one of 60 providers, 10 sources with
//! connections and 20 conflict rules (far past the 4 KB a parameter or a function's
//! environment holds) is pushed to a stack found by name (DescribeStacks on moto's
//! CloudFormation), read back as the functions read it at cold start, and loads; an
//! invalid or oversized file writes nothing; a stack without Inlet's outputs is said so.

use aws_sdk_cloudformation::Client as Cfn;
use inlet_tests::moto::Moto;

/// A configuration the size a business with many systems reaches.
fn big_config() -> String {
    let mut t = String::from("[[sinks]]\nkind = \"stdout\"\n");
    for i in 0..60 {
        t.push_str(&format!(
            "\n[[providers]]\nname = \"erp-{i}\"\nscheme = \"hmac\"\nsecrets = [\"env:ERP_{i}_SECRET\", \"env:ERP_{i}_SECRET_OLD\"]\nheader = \"X-Erp-Signature\"\nprefix = \"sha256=\"\ntimestamp_header = \"X-Erp-Timestamp\"\nid_pointer = \"/event_id\"\nentity_pointer = \"/order/id\"\nentity_type = \"order\"\nversion_pointer = \"/order/version\"\n"
        ));
    }
    for i in 0..10 {
        t.push_str(&format!(
            "\n[[connections]]\nname = \"tenant-{i}\"\nkind = \"oauth2-refresh\"\ntoken_url = \"https://identity.example.com/connect/token\"\nclient_id = \"env:CLIENT_ID\"\nclient_secret = \"env:CLIENT_SECRET\"\nrefresh_token = \"env:TENANT_{i}_REFRESH\"\nper_minute = 60\nper_day = 5000\n\n[[sources]]\nname = \"invoices-{i}\"\nprovider = \"erp-{i}\"\nkind = \"http-json\"\napi_base = \"https://api.example.com\"\nurl = \"{{api_base}}/api/v1/{i}/sync/Invoices?$filter=Timestamp%20gt%20{{cursor}}\"\ncursor = \"row-version\"\nfirst_cursor = \"1\"\nitems = \"records\"\nversion_pointer = \"/Timestamp\"\nitems_pointer = \"/d/results\"\nid_pointer = \"/ID\"\nnext_link_pointer = \"/d/__next\"\nauth = \"connection\"\nconnection = \"tenant-{i}\"\nalert_after_empty_runs = 24\n"
        ));
    }
    for i in 0..20 {
        t.push_str(&format!(
            "\n[[conflicts]]\nentity_type = \"order\"\nrule = \"source-priority\"\npriority = [\"erp-{i}\", \"erp-{}\"]\nwindow_secs = 3600\nfields = [\"/field_{i}\"]\n",
            i + 1
        ));
    }
    t
}

/// A stack with Inlet's outputs, on moto's CloudFormation.
async fn stack(moto: &Moto, with_config: bool) -> String {
    let name = inlet_tests::moto::unique("inlet-stack");
    let mut outputs = serde_json::json!({
        "QueueUrl": {"Value": {"Ref": "Work"}},
        "DeadLetterQueueUrl": {"Value": {"Ref": "Dead"}},
        "StateTableName": {"Value": {"Ref": "State"}},
    });
    if with_config {
        outputs["ConfigObjectUri"] = serde_json::json!({"Value": {"Fn::Join": ["", ["s3://", {"Ref": "Config"}, "/inlet.toml"]]}});
    }
    let template = serde_json::json!({
        "Resources": {
            "Work": {"Type": "AWS::SQS::Queue"},
            "Dead": {"Type": "AWS::SQS::Queue"},
            "State": {"Type": "AWS::DynamoDB::Table", "Properties": {
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "BillingMode": "PAY_PER_REQUEST"}},
            "Config": {"Type": "AWS::S3::Bucket", "Properties": {"VersioningConfiguration": {"Status": "Enabled"}}}
        },
        "Outputs": outputs
    });
    Cfn::new(&moto.sdk)
        .create_stack()
        .stack_name(&name)
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
    name
}

/// `inlet` against the emulator with `inlet.toml` in `dir`, and `env` beside the AWS settings.
fn inlet(
    moto: &Moto,
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let config = dir.join("inlet.toml");
    let mut all = args.to_vec();
    if args.starts_with(&["config", "push"]) {
        all.extend(["--config", config.to_str().unwrap()]);
    }
    crate::outbox_aws::inlet_aws(&all, moto, env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn a_large_configuration_is_pushed_to_the_stack_and_loaded_as_the_functions_load_it() {
    let moto = Moto::connect().await;
    let name = stack(&moto, true).await;
    // moto's CloudFormation creates the bucket without its VersioningConfiguration (the
    // template's ConfigBucket has it): turned on here as the real stack has it.
    let (_, object) = inlet_aws::stack_config::from_stack(&Cfn::new(&moto.sdk), &name)
        .await
        .unwrap();
    let object = object.unwrap();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&moto.sdk)
            .force_path_style(true)
            .build(),
    );
    s3.put_bucket_versioning()
        .bucket(&object.bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = big_config();
    assert!(
        text.len() > 4 * 4096,
        "{} bytes: well past the 4 KB carriers",
        text.len()
    );
    std::fs::write(dir.path().join("inlet.toml"), &text).unwrap();

    let (code, out, err) = inlet(
        &moto,
        dir.path(),
        &["config", "push", "--stack", &name],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("/inlet.toml as version "), "{out}");

    // What a function does at cold start: INLET_CONFIG_S3, the object, the version.
    let (_, uri_out, _) = inlet(
        &moto,
        dir.path(),
        &["config", "show", "--stack", &name],
        &[],
    );
    let header = uri_out.lines().next().unwrap().to_string();
    let uri = header.split_whitespace().nth(1).unwrap().to_string();
    assert_eq!(
        inlet_aws::stack_config::ConfigObject::parse(&uri),
        Some(object.clone())
    );
    let (read, version) = inlet_aws::stack_config::read(&s3, &object).await.unwrap();
    assert_eq!(read, text);
    assert!(version.is_some(), "a versioned bucket names the version");
    assert!(header.ends_with(version.as_deref().unwrap()), "{header}");
    // The functions' own loader at cold start: INLET_CONFIG empty, INLET_CONFIG_S3 set
    // (nextest runs each test in a process of its own, so the environment is this test's).
    std::env::remove_var("INLET_CONFIG");
    std::env::set_var("INLET_CONFIG_S3", object.uri());
    let (cold, cold_version) = inlet_aws::runtime::load_config_text(&moto.sdk)
        .await
        .unwrap();
    std::env::remove_var("INLET_CONFIG_S3");
    assert_eq!(
        (cold.as_str(), Some(cold_version)),
        (read.as_str(), version.clone())
    );
    let loaded =
        inlet_core::config::Config::from_toml(&read, &|_| Some("whsec_placeholder".into()))
            .unwrap();
    assert_eq!(
        (
            loaded.providers.len(),
            loaded.sources.len(),
            loaded.connections.len(),
            loaded.conflicts.len()
        ),
        (60, 10, 10, 20)
    );
    assert!(uri_out.contains("name = \"erp-59\""));

    // An invalid file is refused before anything is written: the object is unchanged.
    std::fs::write(
        dir.path().join("inlet.toml"),
        text.replace("kind = \"http-json\"", "kind = \"ftp\""),
    )
    .unwrap();
    let (code, _, err) = inlet(
        &moto,
        dir.path(),
        &["config", "push", "--stack", &name],
        &[],
    );
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("sources[0].kind") && err.contains("nothing pushed"),
        "{err}"
    );
    // Too large: refused too.
    std::fs::write(
        dir.path().join("inlet.toml"),
        format!("{text}\n# {}\n", "x".repeat(300 * 1024)),
    )
    .unwrap();
    let (code, _, err) = inlet(
        &moto,
        dir.path(),
        &["config", "push", "--stack", &name],
        &[],
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("the most a stack takes is 262144"), "{err}");
    let (again, version_after) = inlet_aws::stack_config::read(&s3, &object).await.unwrap();
    assert_eq!((again, version_after), (text.clone(), version.clone()));

    // Every `--backend aws` command finds the stack by INLET_STACK alone.
    let stack_env = [("INLET_STACK", name.as_str())];
    let (code, out, err) = inlet(
        &moto,
        dir.path(),
        &["dlq", "list", "--backend", "aws"],
        &stack_env,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("the dead-letter queue is empty"), "{out}");

    // `inlet status` names the version the functions read.
    let (_, shown, err) = inlet(
        &moto,
        dir.path(),
        &["status", "--backend", "aws"],
        &stack_env,
    );
    assert!(
        shown.contains(&format!(
            "{} version {}",
            object.uri(),
            version.as_deref().unwrap()
        )),
        "{shown}{err}"
    );

    // A stack without Inlet's outputs, and no stack at all: said.
    let bare = stack(&moto, false).await;
    std::fs::write(dir.path().join("inlet.toml"), &text).unwrap();
    let (code, _, err) = inlet(
        &moto,
        dir.path(),
        &["config", "push", "--stack", &bare],
        &[],
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("no ConfigObjectUri output"), "{err}");
    let (code, _, err) = inlet(
        &moto,
        dir.path(),
        &["config", "show", "--stack", "no-such-stack"],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("stack no-such-stack"), "{err}");
}
