# Helpers of the compose trial (docker/compose.yaml), from Debian 12 packages: postfix's
# smtp-sink as the receiving SMTP server, and openssl for the trial's self-signed
# certificate. Postfix itself is installed unconfigured and never started.
FROM debian:12-slim
RUN echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections \
 && apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postfix openssl \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o nobody -g nogroup /capture \
 && install -d -o 10001 -g 10001 /tls
