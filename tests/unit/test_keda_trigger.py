"""scaler.keda.trigger against the semantics doc, section 1 and checklist rules 1-2."""

from __future__ import annotations

import pytest

from scaler.keda.trigger import (
    KafkaTrigger,
    TriggerError,
    parse_partition_limitation,
    parse_trigger,
)

BASE = {"bootstrapServers": "kafka:9092", "consumerGroup": "group", "topic": "orders"}


def parse(auth: dict[str, str] | None = None, **metadata: str) -> KafkaTrigger:
    return parse_trigger({**BASE, **metadata}, auth)


def problems(metadata: dict[str, str], auth: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(TriggerError) as caught:
        parse_trigger(metadata, auth)
    return caught.value.keda_problems


def test_defaults_match_keda() -> None:
    trigger = parse_trigger(BASE)
    assert trigger.lag_threshold == 10
    assert trigger.activation_lag_threshold == 0
    assert trigger.offset_reset_policy == "latest"
    assert trigger.full_metadata is True
    assert trigger.version == "1.0.0"
    assert (trigger.sasl, trigger.tls, trigger.sasl_token_provider) == ("none", "disable", "bearer")
    assert trigger.kerberos_service_name == "kafka"
    assert trigger.metric_type == "AverageValue"
    assert not any(
        (
            trigger.allow_idle_consumers,
            trigger.exclude_persistent_lag,
            trigger.scale_to_zero_on_invalid_offset,
            trigger.limit_to_partitions_with_lag,
            trigger.ensure_even_distribution_of_partitions,
            trigger.unsafe_ssl,
        )
    )


# Checklist rule 1: empty means absent, everything trimmed, TM beats AUTH.


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_rule1_empty_or_whitespace_value_is_absent_so_default_applies(blank: str) -> None:
    trigger = parse(lagThreshold=blank, offsetResetPolicy=blank, fullMetadata=blank)
    assert (trigger.lag_threshold, trigger.offset_reset_policy) == (10, "latest")
    assert trigger.full_metadata is True


def test_rule1_blank_required_parameter_is_missing() -> None:
    found = problems({**BASE, "consumerGroup": "  "})
    assert found == ['missing required parameter "consumerGroup" in [triggerMetadata resolvedEnv]']


def test_rule1_values_are_trimmed_including_secrets() -> None:
    trigger = parse_trigger(
        {**BASE, "topic": "  orders \n", "lagThreshold": " 5 "},
        {"sasl": "plaintext\n", "username": " user ", "password": " pw\n"},
    )
    assert (trigger.topic, trigger.lag_threshold) == ("orders", 5)
    assert (trigger.sasl, trigger.username, trigger.password) == ("plaintext", "user", "pw")


@pytest.mark.parametrize(
    ("name", "field", "metadata_value", "auth_value"),
    [
        ("sasl", "sasl", "none", "plaintext"),
        ("tls", "tls", "disable", "enable"),
        ("saslTokenProvider", "sasl_token_provider", "bearer", "aws_msk_iam"),
    ],
)
def test_rule1_trigger_metadata_beats_auth_params(
    name: str, field: str, metadata_value: str, auth_value: str
) -> None:
    trigger = parse({name: auth_value}, **{name: metadata_value})
    assert getattr(trigger, field) == metadata_value


def test_rule1_auth_param_used_when_metadata_blank() -> None:
    trigger = parse({"tls": "enable"}, tls=" ")
    assert trigger.tls == "enable"


def test_auth_only_parameters_ignore_trigger_metadata() -> None:
    trigger = parse(password="from-metadata", username="u")
    assert (trigger.password, trigger.username) == ("", "")


def test_metadata_only_parameters_ignore_auth_params() -> None:
    trigger = parse({"awsRegion": "eu-west-1", "unsafeSsl": "true", "topic": "other"})
    assert (trigger.aws_region, trigger.unsafe_ssl, trigger.topic) == ("", False, "orders")


def test_from_env_reads_resolved_env_and_metadata_wins() -> None:
    metadata = {"bootstrapServersFromEnv": "BROKERS", "consumerGroupFromEnv": "GROUP"}
    env = {"BROKERS": " a:1,b:2 ", "GROUP": "env-group"}
    trigger = parse_trigger({**metadata, "consumerGroup": "tm-group"}, resolved_env=env)
    assert trigger.bootstrap_servers == ("a:1", "b:2")
    assert trigger.consumer_group == "tm-group"


def test_from_env_naming_unset_variable_is_missing() -> None:
    found = problems({"bootstrapServersFromEnv": "NOPE", "consumerGroup": "g"})
    assert found == ['missing required parameter "bootstrapServers" in [triggerMetadata resolvedEnv]']


def test_string_list_splits_trims_and_keeps_empty_elements() -> None:
    trigger = parse(bootstrapServers=" a:9092 , b:9092,")
    assert trigger.bootstrap_servers == ("a:9092", "b:9092", "")


def test_topic_is_not_split_on_commas() -> None:
    assert parse(topic="a,b").topic == "a,b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [(s, True) for s in ("1", "t", "T", "TRUE", "true", "True")]
    + [(s, False) for s in ("0", "f", "F", "FALSE", "false", "False")],
)
def test_booleans_accept_go_parsebool_spellings(text: str, expected: bool) -> None:
    assert parse(excludePersistentLag=text).exclude_persistent_lag is expected


@pytest.mark.parametrize("text", ["yes", "on", "tRUE", "2"])
def test_bad_boolean_is_an_error_with_keda_wording(text: str) -> None:
    found = problems({**BASE, "allowIdleConsumers": text})
    assert found == [
        f'unable to set param "allowIdleConsumers" value "{text}": unable to parse boolean '
        f'value "{text}": strconv.ParseBool: parsing "{text}": invalid syntax'
    ]


def test_bad_boolean_leaves_field_false_not_default() -> None:
    # fullMetadata defaults to true; a bad value makes it false, so Validate() complains too.
    found = problems({"bootstrapServers": "k:1", "consumerGroup": "g", "fullMetadata": "yes"})
    assert found[-1] == "topic must be specified when fullMetadata is false"


@pytest.mark.parametrize(("text", "value"), [("10", 10), ("-0", 0), ("1000000", 1000000)])
def test_integers_parse_as_json_numbers(text: str, value: int) -> None:
    assert parse(activationLagThreshold=text).activation_lag_threshold == value


@pytest.mark.parametrize("text", ["1.5", "1e3", "010", "+5", '"10"', "AA", "99999999999999999999"])
def test_integers_reject_non_json_int64(text: str) -> None:
    found = problems({**BASE, "lagThreshold": text})
    assert found[0].startswith(f'unable to set param "lagThreshold" value "{text}"')
    # The field stays 0, so Validate() adds the positivity error as well.
    assert found[1] == '"lagThreshold" must be positive number'


def test_enums_are_case_sensitive() -> None:
    found = problems({**BASE, "offsetResetPolicy": "Latest"})
    assert found == ['parameter "offsetResetPolicy" value "Latest" must be one of [latest earliest]']


def test_enum_comma_list_passes_and_is_stored_verbatim() -> None:
    assert parse(offsetResetPolicy="latest, earliest").offset_reset_policy == "latest, earliest"


def test_all_field_errors_collected_then_first_validate_failure() -> None:
    found = problems(
        {
            "lagThreshold": "0",
            "activationLagThreshold": "-1",
            "sasl": "PLAIN",
            "offsetResetPolicy": "never",
        }
    )
    assert found == [
        'missing required parameter "bootstrapServers" in [triggerMetadata resolvedEnv]',
        'missing required parameter "consumerGroup" in [triggerMetadata resolvedEnv]',
        'parameter "offsetResetPolicy" value "never" must be one of [latest earliest]',
        'parameter "sasl" value "PLAIN" must be one of '
        "[none plaintext scram_sha256 scram_sha512 oauthbearer gssapi]",
        '"lagThreshold" must be positive number',
    ]


def test_error_message_is_wrapped_and_joined_by_newlines() -> None:
    with pytest.raises(TriggerError) as caught:
        parse_trigger({})
    assert str(caught.value).startswith("error parsing kafka metadata: missing required")
    assert str(caught.value).count("\n") == 1


# Cross-field checks, in KEDA's order; each case trips exactly one check.
VALIDATE_CASES = [
    ({"lagThreshold": "-3"}, None, '"lagThreshold" must be positive number'),
    (
        {"activationLagThreshold": "-1"},
        None,
        '"activationLagThreshold" must be a non-negative number',
    ),
    ({"partitionLimitation": "1,x"}, None, "invalid partition limitation: x"),
    (
        {"allowIdleConsumers": "true", "limitToPartitionsWithLag": "true"},
        None,
        "allowIdleConsumers and limitToPartitionsWithLag cannot be set simultaneously",
    ),
    (
        {"topic": "", "limitToPartitionsWithLag": "true"},
        None,
        "topic must be specified when using limitToPartitionsWithLag",
    ),
    (
        {"limitToPartitionsWithLag": "true", "ensureEvenDistributionOfPartitions": "true"},
        None,
        "limitToPartitionsWithLag and ensureEvenDistributionOfPartitions cannot be set simultaneously",
    ),
    (
        {"topic": "", "ensureEvenDistributionOfPartitions": "true"},
        None,
        "topic must be specified when using ensureEvenDistributionOfPartitions",
    ),
    (
        {"topic": "", "fullMetadata": "false"},
        None,
        "topic must be specified when fullMetadata is false",
    ),
    ({"tls": "enable"}, {"cert": "C"}, "key must be provided with cert"),
    ({}, {"tls": "enable", "key": "K"}, "cert must be provided with key"),
    ({"sasl": "plaintext"}, {"password": "p"}, "no username given"),
    ({"sasl": "scram_sha512"}, {"username": "u"}, "no password given"),
    (
        {"sasl": "oauthbearer"},
        {"username": "id", "password": "secret"},
        "error parsing OAuth token provider configuration: no oauth token endpoint uri given",
    ),
    (
        {"sasl": "oauthbearer"},
        {"username": "id", "password": "s", "oauthTokenEndpointUri": "u", "oauthExtensions": "a"},
        "error parsing OAuth token provider configuration: invalid OAuthBearer extension, "
        "must be of format key=value",
    ),
    (
        {"sasl": "oauthbearer", "saslTokenProvider": "aws_msk_iam", "awsRegion": "eu"},
        None,
        "error parsing OAuth token provider configuration: TLS is required for AWS MSK authentication",
    ),
    (
        {"sasl": "oauthbearer", "saslTokenProvider": "aws_msk_iam", "tls": "enable"},
        None,
        "error parsing OAuth token provider configuration: no awsRegion given",
    ),
    ({"sasl": "gssapi"}, {"password": "p"}, "no username given"),
    (
        {"sasl": "gssapi"},
        {"username": "u", "password": "p", "keytab": "k"},
        "exactly one of 'password' or 'keytab' must be provided for GSSAPI authentication",
    ),
    ({"sasl": "gssapi"}, {"username": "u", "keytab": "k"}, "no realm given"),
    (
        {"sasl": "gssapi"},
        {"username": "u", "keytab": "k", "realm": "R"},
        "no Kerberos configuration file (kerberosConfig) given",
    ),
]


@pytest.mark.parametrize(("metadata", "auth", "expected"), VALIDATE_CASES)
def test_cross_field_validation_messages(
    metadata: dict[str, str], auth: dict[str, str] | None, expected: str
) -> None:
    assert problems({**BASE, **metadata}, auth) == [expected]


def test_validate_stops_at_first_failure_in_keda_order() -> None:
    found = problems(
        {
            **BASE,
            "lagThreshold": "0",
            "partitionLimitation": "bad",
            "allowIdleConsumers": "true",
            "limitToPartitionsWithLag": "true",
        }
    )
    assert found == ['"lagThreshold" must be positive number']


def test_partition_limitation_error_comes_before_combination_errors() -> None:
    found = problems(
        {
            **BASE,
            "partitionLimitation": "1-2-3",
            "allowIdleConsumers": "true",
            "limitToPartitionsWithLag": "true",
        }
    )
    assert found == ["invalid partition limitation range: 1-2-3"]


def test_unknown_sasl_mode_via_comma_list_skips_requirements() -> None:
    assert parse(sasl="plaintext,gssapi").sasl == "plaintext,gssapi"


def test_oauth_bearer_scopes_not_trimmed_and_extensions_parsed() -> None:
    auth = {
        "sasl": "oauthbearer",
        "username": "id",
        "password": "secret",
        "oauthTokenEndpointUri": "https://idp/token",
        "scopes": "a, b",
        "oauthExtensions": "k1=v1,k2=v2",
    }
    trigger = parse(auth)
    assert trigger.scopes == ("a", " b")
    assert trigger.oauth_extensions == (("k1", "v1"), ("k2", "v2"))


def test_oauth_bearer_without_scopes_yields_one_empty_scope() -> None:
    auth = {"sasl": "oauthbearer", "username": "i", "password": "s", "oauthTokenEndpointUri": "u"}
    assert parse(auth).scopes == ("",)


def test_msk_iam_needs_aws_credentials() -> None:
    metadata = {
        **BASE,
        "sasl": "oauthbearer",
        "saslTokenProvider": "aws_msk_iam",
        "tls": "enable",
        "awsRegion": "eu-west-1",
    }
    prefix = "error getting AWS authorization: "
    assert problems(metadata) == [prefix + "awsAccessKeyID not found"]
    assert problems(metadata, {"awsAccessKeyID": "AK"}) == [prefix + "awsSecretAccessKey not found"]
    keyed = parse_trigger(metadata, {"awsAccessKeyId": "AK", "awsSecretAccessKey": "S"})
    assert keyed.aws_region == "eu-west-1"
    assert parse_trigger(metadata, {"awsRoleArn": "arn:aws:iam::1:role/r"}).tls == "enable"
    assert parse_trigger(metadata, aws_pod_identity=True).sasl == "oauthbearer"


@pytest.mark.parametrize("version", ["1.0.0", "2.8.1", "3.7.0", "0.10.2.1", "9.99.0"])
def test_version_accepts_any_syntactically_valid_version(version: str) -> None:
    assert parse(version=version).version == version


@pytest.mark.parametrize("version", ["1.2.3.4", "0.10.2", "1.0", "v1.0.0", "1.0.x"])
def test_version_syntax_error_is_reported_alone_after_validate(version: str) -> None:
    assert problems({**BASE, "version": version}) == [
        f"error parsing kafka version: invalid version `{version}`"
    ]


def test_version_error_not_reported_when_other_errors_exist() -> None:
    assert problems({**BASE, "version": "1.2.3.4", "lagThreshold": "0"}) == [
        '"lagThreshold" must be positive number'
    ]


def test_version_tuple() -> None:
    assert parse(version="0.10.2.1").version_tuple == (0, 10, 2, 1)
    assert parse(version="3.7.0").version_tuple == (3, 7, 0, 0)


# Checklist rule 2: partitionLimitation.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,2,10-13,31", [1, 2, 10, 11, 12, 13, 31]),
        (" 1 , 3 - 4 ", [1, 3, 4]),
        ("5-3", []),
        ("2,2,1", [2, 2, 1]),
        ("+7", [7]),
    ],
)
def test_rule2_partition_limitation_ranges_inclusive_items_trimmed(text: str, expected: list[int]) -> None:
    assert parse_partition_limitation(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1", "invalid partition limitation: -1"),
        ("1,,2", "invalid partition limitation: "),
        ("1-2-3", "invalid partition limitation range: 1-2-3"),
        ("a-3", "invalid partition limitation: a-3"),
        ("2147483648", "invalid partition limitation: 2147483648"),
    ],
)
def test_rule2_partition_limitation_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        parse_partition_limitation(text)


def test_rule2_partition_limitation_ignored_without_topic() -> None:
    trigger = parse_trigger({**BASE, "topic": "", "partitionLimitation": "1-3"})
    assert trigger.partition_limitation == ()
    assert parse(partitionLimitation="1-3").partition_limitation == (1, 2, 3)


def test_rule2_invalid_partition_limitation_is_an_error_even_without_topic() -> None:
    found = problems({**BASE, "topic": "", "partitionLimitation": "x"})
    assert found == ["invalid partition limitation: x"]


@pytest.mark.parametrize(
    ("metadata", "index", "expected"),
    [
        ({"topic": "my-topic"}, 0, "s0-kafka-my-topic"),
        ({"topic": "my-topic"}, 1, "s1-kafka-my-topic"),
        ({"topic": "", "consumerGroup": "my-group"}, 1, "s1-kafka-my-group-topics"),
        ({"topic": "a/b.c:d%e(f)"}, 2, "s2-kafka-a-b-c-d-e-f-"),
    ],
)
def test_metric_name(metadata: dict[str, str], index: int, expected: str) -> None:
    assert parse_trigger({**BASE, **metadata}, trigger_index=index).metric_name == expected


def test_metric_type_value_and_utilization_rejected() -> None:
    assert parse_trigger(BASE, metric_type="Value").metric_type == "Value"
    with pytest.raises(TriggerError, match="'Utilization' metric type is unsupported"):
        parse_trigger(BASE, metric_type="Utilization")


def test_repr_masks_secrets() -> None:
    auth = {"sasl": "plaintext", "username": "alice", "password": "hunter2", "keyPassword": "kp"}
    auth |= {"tls": "enable", "cert": "CERT", "key": "PRIVATE-KEY"}
    text = repr(parse(auth))
    assert "hunter2" not in text
    assert "PRIVATE-KEY" not in text
    assert "'kp'" not in text
    assert "password='***'" in text
    assert "alice" in text


def test_problems_also_name_each_parameter_in_plain_words() -> None:
    with pytest.raises(TriggerError) as caught:
        parse_trigger({"bootstrapServers": "k:9092", "lagThreshold": "ten", "offsetResetPolicy": "newest"})
    assert [str(problem) for problem in caught.value.problems] == [
        "consumerGroup: is required",
        "lagThreshold: must be a whole number, got 'ten'",
        "offsetResetPolicy: must be one of latest, earliest, got 'newest'",
        "lagThreshold: must be greater than 0, got 0",  # KEDA validates the zero it fell back to
    ]
    assert str(caught.value).startswith("error parsing kafka metadata: ")  # what KEDA would log


def test_unknown_metadata_keys_are_ignored() -> None:
    assert parse(lagTreshold="5", somethingElse="x").lag_threshold == 10


def test_empty_metric_type_means_average_value() -> None:
    assert parse_trigger(BASE, metric_type="").metric_type == "AverageValue"
