//! PutEmailMonitoringConfiguration, DescribeEmailMonitoringConfiguration and
//! DeleteEmailMonitoringConfiguration (workmail.md §4.1) on every backend under test.

mod common;

use carillon_awsapi::generated::workmail::*;
use common::envs;

fn log_group(account: &str, name: &str) -> String {
    format!("arn:aws:logs:us-east-1:{account}:log-group:{name}:*")
}

#[tokio::test]
async fn monitoring_configuration_round_trips_within_its_account() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, alias) = env.organization(&ctx).await;
        let describe = || {
            env.wm.describe_email_monitoring_configuration(
                &ctx,
                DescribeEmailMonitoringConfigurationRequest {
                    organization_id: org.clone(),
                },
            )
        };
        assert_eq!(
            describe().await.unwrap(),
            DescribeEmailMonitoringConfigurationResponse::default()
        );

        let arn = log_group(
            &ctx.account_id,
            &format!("/aws/workmail/emailevents/{alias}"),
        );
        env.wm
            .put_email_monitoring_configuration(
                &ctx,
                PutEmailMonitoringConfigurationRequest {
                    organization_id: org.clone(),
                    log_group_arn: arn.clone(),
                    role_arn: Some("arn:aws:iam::111122223333:role/logs".into()),
                },
            )
            .await
            .unwrap();
        let described = describe().await.unwrap();
        assert_eq!(described.log_group_arn.as_deref(), Some(arn.as_str()));
        assert_eq!(
            described.role_arn.as_deref(),
            Some("arn:aws:iam::111122223333:role/logs")
        );

        // A log group name that would leave the logs directory is refused.
        let escaping = env
            .wm
            .put_email_monitoring_configuration(
                &ctx,
                PutEmailMonitoringConfigurationRequest {
                    organization_id: org.clone(),
                    log_group_arn: log_group(&ctx.account_id, "/logs/../../etc"),
                    role_arn: None,
                },
            )
            .await;
        assert_eq!(common::code(escaping), "InvalidParameterException");

        let stranger = env.account().await;
        let foreign = env
            .wm
            .delete_email_monitoring_configuration(
                &stranger,
                DeleteEmailMonitoringConfigurationRequest {
                    organization_id: org.clone(),
                },
            )
            .await;
        assert_eq!(common::code(foreign), "OrganizationNotFoundException");
        assert_eq!(describe().await.unwrap(), described);

        env.wm
            .delete_email_monitoring_configuration(
                &ctx,
                DeleteEmailMonitoringConfigurationRequest {
                    organization_id: org.clone(),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            describe().await.unwrap(),
            DescribeEmailMonitoringConfigurationResponse::default()
        );
    }
}
