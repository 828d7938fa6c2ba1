//! Application Auto Scaling for a table and its indexes: read from the source, registered for
//! the copy. IAM cannot limit these calls to restore targets; the resource ids here always name
//! the table being read or the copy.

use std::collections::BTreeMap;

use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};

use crate::aws_error::describe;
use crate::restore::parity::{
    Dimension, READ, Scaling, ScalingPolicy, TABLE, TableSettings, WRITE, index_scope,
};
use crate::restore::service::RestoreService;
use crate::restore::settings::Step;

impl RestoreService {
    pub(super) async fn auto_scaling(
        &self,
        table: &str,
        indexes: &[String],
    ) -> Result<BTreeMap<(String, Dimension), Scaling>, String> {
        let ids: Vec<String> = std::iter::once(resource_id(table, None))
            .chain(indexes.iter().map(|i| resource_id(table, Some(i))))
            .collect();
        let mut found = BTreeMap::new();
        let mut next = None;
        loop {
            let page = self
                .autoscaling
                .describe_scalable_targets()
                .service_namespace(ServiceNamespace::Dynamodb)
                .set_resource_ids(Some(ids.clone()))
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| describe(&e))?;
            for target in page.scalable_targets() {
                let Some(key) = scaling_key(target.resource_id(), target.scalable_dimension())
                else {
                    continue;
                };
                let policies = self
                    .scaling_policies(target.resource_id(), target.scalable_dimension())
                    .await?;
                found.insert(
                    key,
                    Scaling {
                        min: target.min_capacity(),
                        max: target.max_capacity(),
                        policies,
                    },
                );
            }
            match page.next_token {
                Some(token) => next = Some(token),
                None => return Ok(found),
            }
        }
    }

    async fn scaling_policies(
        &self,
        resource: &str,
        dimension: &ScalableDimension,
    ) -> Result<Vec<ScalingPolicy>, String> {
        let mut policies = Vec::new();
        let mut next = None;
        loop {
            let page = self
                .autoscaling
                .describe_scaling_policies()
                .service_namespace(ServiceNamespace::Dynamodb)
                .resource_id(resource)
                .scalable_dimension(dimension.clone())
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| describe(&e))?;
            for policy in page.scaling_policies() {
                // Step scaling is not used for DynamoDB; only target tracking is copied.
                let Some(config) = policy.target_tracking_scaling_policy_configuration() else {
                    continue;
                };
                policies.push(ScalingPolicy {
                    name: policy.policy_name().to_string(),
                    metric: config
                        .predefined_metric_specification()
                        .map_or(String::new(), |m| {
                            m.predefined_metric_type().as_str().to_string()
                        }),
                    target_value: config.target_value(),
                    scale_in_cooldown: config.scale_in_cooldown(),
                    scale_out_cooldown: config.scale_out_cooldown(),
                    disable_scale_in: config.disable_scale_in(),
                });
            }
            match page.next_token {
                Some(token) => next = Some(token),
                None => return Ok(policies),
            }
        }
    }

    /// IAM cannot limit these calls to restore targets; the resource ids always name the copy.
    pub(super) async fn set_auto_scaling(
        &self,
        target: &str,
        want: &TableSettings,
        have: &TableSettings,
    ) -> Step {
        let mut done = Vec::new();
        for ((scope, dimension), scaling) in &want.auto_scaling {
            if have.auto_scaling.get(&(scope.clone(), *dimension)) == Some(scaling) {
                continue;
            }
            let id = resource_id(
                target,
                (scope != TABLE).then(|| scope.trim_start_matches("index ")),
            );
            let scalable = scalable_dimension(scope, dimension);
            let failed = |e: String| format!("auto scaling ({scope}, {dimension}): {e}");
            self.autoscaling
                .register_scalable_target()
                .service_namespace(ServiceNamespace::Dynamodb)
                .resource_id(&id)
                .scalable_dimension(scalable.clone())
                .min_capacity(scaling.min)
                .max_capacity(scaling.max)
                .send()
                .await
                .map_err(|e| failed(describe(&e)))?;
            for policy in &scaling.policies {
                let config = TargetTrackingScalingPolicyConfiguration::builder()
                    .target_value(policy.target_value)
                    .predefined_metric_specification(
                        PredefinedMetricSpecification::builder()
                            .predefined_metric_type(MetricType::from(policy.metric.as_str()))
                            .build()
                            .map_err(|e| failed(e.to_string()))?,
                    )
                    .set_scale_in_cooldown(policy.scale_in_cooldown)
                    .set_scale_out_cooldown(policy.scale_out_cooldown)
                    .set_disable_scale_in(policy.disable_scale_in)
                    .build()
                    .map_err(|e| failed(e.to_string()))?;
                self.autoscaling
                    .put_scaling_policy()
                    .service_namespace(ServiceNamespace::Dynamodb)
                    .resource_id(&id)
                    .scalable_dimension(scalable.clone())
                    .policy_name(&policy.name)
                    .policy_type(PolicyType::TargetTrackingScaling)
                    .target_tracking_scaling_policy_configuration(config)
                    .send()
                    .await
                    .map_err(|e| failed(describe(&e)))?;
            }
            done.push(format!("{scope} {dimension}"));
        }
        Ok((!done.is_empty()).then(|| format!("auto scaling ({})", done.join(", "))))
    }
}

/// Application Auto Scaling's id of a table (`table/<name>`) or index (`.../index/<name>`).
pub fn resource_id(table: &str, index: Option<&str>) -> String {
    match index {
        Some(index) => format!("table/{table}/index/{index}"),
        None => format!("table/{table}"),
    }
}

/// The scalable dimension of a scope's read or write capacity.
pub fn scalable_dimension(scope: &str, dimension: Dimension) -> ScalableDimension {
    match (scope == TABLE, dimension == READ) {
        (true, true) => ScalableDimension::DynamoDbTableReadCapacityUnits,
        (true, false) => ScalableDimension::DynamoDbTableWriteCapacityUnits,
        (false, true) => ScalableDimension::DynamoDbIndexReadCapacityUnits,
        (false, false) => ScalableDimension::DynamoDbIndexWriteCapacityUnits,
    }
}

fn scaling_key(resource: &str, dimension: &ScalableDimension) -> Option<(String, Dimension)> {
    let scope = match resource.split_once("/index/") {
        Some((_, index)) => index_scope(index),
        None => TABLE.to_string(),
    };
    let dimension = match dimension.as_str() {
        d if d.ends_with("ReadCapacityUnits") => READ,
        d if d.ends_with("WriteCapacityUnits") => WRITE,
        _ => return None,
    };
    Some((scope, dimension))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_scaling_ids_and_dimensions_name_the_table_or_index() {
        assert_eq!(resource_id("t-restored-1", None), "table/t-restored-1");
        assert_eq!(resource_id("t", Some("by-x")), "table/t/index/by-x");
        for (scope, dimension) in [
            (TABLE.to_string(), READ),
            (TABLE.to_string(), WRITE),
            (index_scope("by-x"), READ),
            (index_scope("by-x"), WRITE),
        ] {
            let index = scope.strip_prefix("index ");
            let id = resource_id("t", index);
            let key = scaling_key(&id, &scalable_dimension(&scope, dimension));
            assert_eq!(key, Some((scope.clone(), dimension)));
        }
    }
}
