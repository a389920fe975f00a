/*
 * test_sign.c — Standard Webhooks signing against the specification's own
 * published test vectors (docs/WEBHOOKS.md), and secret parsing.
 */
#include "testutil.h"
#include "sign.h"

static void sign_of(const char *secret, const char *id, long long ts, const char *body,
		    const char *want)
{
	struct sign_key key;
	char why[128], sig[SIGN_SIGNATURE_MAX];
	assert_int_equal(sign_key_parse(secret, &key, why, sizeof why), 0);
	sign_webhook(&key, id, ts, body, strlen(body), sig);
	assert_string_equal(sig, want);
}

static void published_test_vectors(void **state)
{
	(void)state;
	sign_of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		1614265330, "{\"test\": 2432232314}",
		"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
	sign_of("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
		1649367553, "{\"email\":\"test@example.com\",\"username\":\"test_user\"}",
		"v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
	/* the prefix is optional */
	sign_of("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
		"{\"test\": 2432232314}", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

static void a_changed_byte_changes_the_signature(void **state)
{
	(void)state;
	struct sign_key key;
	char why[128], a[SIGN_SIGNATURE_MAX], b[SIGN_SIGNATURE_MAX];
	assert_int_equal(sign_key_parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &key, why, 128),
			 0);
	sign_webhook(&key, "msg_1", 1, "{}", 2, a);
	sign_webhook(&key, "msg_1", 2, "{}", 2, b);
	assert_string_not_equal(a, b);
	sign_webhook(&key, "msg_2", 1, "{}", 2, b);
	assert_string_not_equal(a, b);
}

static void bad_secrets_are_refused(void **state)
{
	(void)state;
	struct sign_key key;
	char why[128];
	const char *bad[] = { "whsec_",
			      "whsec_not base64!!",
			      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",
			      "whsec_c2hvcnQ=", /* "short": 5 bytes */
			      "whsec_MfKQ9r8G=YqrTwjUPD8ILPZIo2LaLaSw",
			      "" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (sign_key_parse(bad[i], &key, why, sizeof why) != -1)
			fail_msg("\"%s\" was accepted", bad[i]);
	assert_int_equal(sign_key_parse("whsec_c2hvcnQ=", &key, why, sizeof why), -1);
	assert_non_null(strstr(why, "5 bytes"));
	/* padding is not key material */
	assert_int_equal(sign_key_parse("whsec_MDEyMzQ1Njc4OWFiY2RlZmc=", &key, why, sizeof why),
			 0);
	assert_int_equal(key.len, 17);
	assert_memory_equal(key.bytes, "0123456789abcdefg", 17);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(published_test_vectors),
		cmocka_unit_test(a_changed_byte_changes_the_signature),
		cmocka_unit_test(bad_secrets_are_refused),
	};
	return cmocka_run_group_tests_name("sign", tests, NULL, NULL);
}
