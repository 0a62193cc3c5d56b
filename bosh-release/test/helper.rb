# frozen_string_literal: true

require 'fileutils'
require 'open3'
require 'socket'
require 'tmpdir'
require 'yaml'
require 'template_renderer'
require 'release_lint'
require 'manifest_ops'

module ReleaseTest
  RELEASE_DIR = File.expand_path('..', __dir__)
  REPO_ROOT = File.expand_path('..', RELEASE_DIR)
  FIXTURES = File.join(__dir__, 'fixtures')
  BROKER_BIN = ENV.fetch('BROKER_BIN', File.join(REPO_ROOT, 'target', 'debug', 'on-demand-broker'))
  ADAPTER_BIN = ENV.fetch('ADAPTER_BIN', File.join(REPO_ROOT, 'target', 'debug', 'example-service-adapter'))
  # package => the binary its packaging installs under bin/
  PACKAGES = { 'on-demand-broker' => 'on-demand-broker', 'example-service-adapter' => 'example-service-adapter' }.freeze

  module Helpers
    def fixture(name)
      YAML.safe_load(File.read(File.join(FIXTURES, "#{name}.yml")), aliases: true)
    end

    def broker_job
      @broker_job ||= Job.new(RELEASE_DIR, 'broker')
    end

    def render(template, props, links: {})
      broker_job.render(template, props, links: links)
    end

    def deep_merge(a, b)
      a.merge(b) { |_, x, y| x.is_a?(Hash) && y.is_a?(Hash) ? deep_merge(x, y) : y }
    end

    def skip_without_broker
      skip "#{BROKER_BIN} not built (cargo build -p on-demand-broker); skipping" unless File.executable?(BROKER_BIN)
    end

    # An executable the broker accepts as service_adapter.path: the example adapter when
    # built, otherwise a stand-in script.
    def adapter_executable(dir)
      return ADAPTER_BIN if File.executable?(ADAPTER_BIN)

      path = File.join(dir, 'stand-in-adapter')
      File.write(path, "#!/bin/sh\nexit 10\n")
      File.chmod(0o755, path)
      path
    end

    DATABASE_CA = '/var/vcap/jobs/broker/config/database-ca.pem'

    # The rendered broker.yml with the VM paths pointed at this machine: the database under
    # `dir`, the database CA (rendered from config/database-ca.pem) in `dir` and the adapter
    # at an existing executable. Nothing else is changed.
    def localise(text, props, dir)
      db = ReleaseTest.dig(props, 'database.path') || '/var/vcap/store/broker/broker.db'
      text = text.gsub(db, File.join(dir, 'store', 'broker.db'))
      if text.include?(DATABASE_CA)
        ca = File.join(dir, 'database-ca.pem')
        File.write(ca, render('config/database-ca.pem', props))
        text = text.gsub(DATABASE_CA, ca)
      end
      adapter = ReleaseTest.dig(props, 'service_adapter.path')
      text = text.gsub(adapter, adapter_executable(dir)) if adapter
      text
    end

    def check_config(text)
      Dir.mktmpdir do |dir|
        path = File.join(dir, 'broker.yml')
        File.write(path, text)
        out, status = Open3.capture2e(BROKER_BIN, 'check-config', '--config', path)
        [out, status]
      end
    end

    def free_port
      server = TCPServer.new('127.0.0.1', 0)
      server.addr[1]
    ensure
      server&.close
    end

    # The example manifest's broker properties after ops files and variables.
    def manifest_broker_properties(ops_files = [], vars = {})
      doc = YAML.safe_load(File.read(File.join(RELEASE_DIR, 'manifests', 'on-demand-broker.yml')))
      ops = ops_files.flat_map { |f| YAML.safe_load(File.read(File.join(RELEASE_DIR, 'manifests', 'operations', f))) }
      doc = ManifestOps.apply(doc, ops)
      doc = ManifestOps.interpolate(doc, vars)
      group = doc['instance_groups'].find { |g| g['name'] == 'broker' }
      [group, group['jobs'].find { |j| j['name'] == 'broker' }['properties']]
    end

    def fixture_ca
      fixture('full')['bosh']['root_ca_cert']
    end

    def manifest_vars
      {
        'broker_password' => 'generated-broker-password', 'bosh_url' => 'https://10.0.0.6:25555',
        'bosh_ca_cert' => fixture_ca, 'bosh_username' => 'admin', 'bosh_password' => 'director-password',
        'bosh_client_id' => 'on-demand-broker', 'bosh_client_secret' => 'uaa-client-secret',
        'bosh_credhub_url' => 'https://10.0.0.6:8844', 'bosh_credhub_ca_cert' => fixture_ca,
        'bosh_credhub_client_id' => 'on-demand-broker-credhub', 'bosh_credhub_client_secret' => 'director-credhub-secret',
        'credhub_broker_client_id' => 'on-demand-broker', 'credhub_broker_client_secret' => 'runtime-credhub-secret',
        'cf_uaa_ca_cert' => fixture_ca,
        # 20 characters each, as the bosh CLI generates passwords
        'database_key_1_a' => 'k1a0123456789abcdefg', 'database_key_1_b' => 'k1b0123456789abcdefg',
        'postgres_url' => "postgres://odb:#{POSTGRES_PASSWORD}@db.example.com:5432/broker", 'postgres_ca_cert' => fixture_ca
      }
    end

    POSTGRES_PASSWORD = 's3cret-db-pw'
    POSTGRES_URL = "postgres://odb:#{POSTGRES_PASSWORD}@db.example.com:5432/broker".freeze
    SEALING_KEYS = { 'keys' => [{ 'label' => 'key-1', 'secret' => 'shared-key-secret-0123456789abcdef', 'primary' => true }] }.freeze

    # minimal with a PostgreSQL database (POSTGRES_URL and sealing keys), plus `database`.
    def postgres(database = {})
      deep_merge(fixture('minimal'), 'database' => { 'url' => POSTGRES_URL, 'encryption' => SEALING_KEYS }.merge(database))
    end

    # The credhub link as CF's credhub job provides it.
    def credhub_link(properties = {})
      { 'properties' => { 'credhub' => { 'internal_url' => 'credhub.service.cf.internal', 'port' => 8844,
                                          'ca_certificate' => fixture_ca }.merge(properties) },
        'instances' => [{ 'address' => '10.0.1.20' }] }
    end

    # minimal plus secure bindings (enabled, UAA client) on top of `change`.
    def secure_bindings(change = {})
      deep_merge(deep_merge(fixture('minimal'), 'secure_binding_credentials' => {
                              'enabled' => true,
                              'authentication' => { 'uaa' => { 'client_id' => 'broker-credhub-client', 'client_secret' => 'runtime-credhub-client-secret' } }
                            }), change)
    end
  end
end
