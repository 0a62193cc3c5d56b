# frozen_string_literal: true

require_relative 'helper'

# The example manifest and its ops files: they only set declared properties, the ops files
# apply, and what they render is a config the broker accepts.
class ManifestsTest < Minitest::Test
  include ReleaseTest::Helpers

  MANIFESTS = Dir.glob(File.join(ReleaseTest::RELEASE_DIR, 'manifests', '**', '*.yml')).sort

  def test_manifests_set_only_declared_properties
    refute_empty MANIFESTS
    MANIFESTS.each do |m|
      assert_equal [], ReleaseTest::Lint.manifest(m, ReleaseTest::RELEASE_DIR), m
    end
  end

  def test_an_undeclared_manifest_property_is_reported
    Dir.mktmpdir do |dir|
      doc = YAML.safe_load(File.read(File.join(ReleaseTest::RELEASE_DIR, 'manifests', 'on-demand-broker.yml')))
      doc['instance_groups'][0]['jobs'][0]['properties']['service_adapter']['timeout'] = 5
      path = File.join(dir, 'typo.yml')
      File.write(path, doc.to_yaml)
      ops = File.join(dir, 'typo-op.yml')
      File.write(ops, [{ 'type' => 'replace', 'path' => '/instance_groups/name=broker/jobs/name=broker/properties/bosh/uaa?',
                         'value' => { 'client_id' => 'x' } }].to_yaml)
      assert_includes ReleaseTest::Lint.manifest(path, ReleaseTest::RELEASE_DIR).join, 'property service_adapter.timeout is not declared'
      assert_includes ReleaseTest::Lint.manifest(ops, ReleaseTest::RELEASE_DIR).join, 'property bosh.uaa.client_id is not declared'
    end
  end

  def test_manifest_shape
    doc = YAML.safe_load(File.read(File.join(ReleaseTest::RELEASE_DIR, 'manifests', 'on-demand-broker.yml')))
    group = doc['instance_groups'].find { |g| g['name'] == 'broker' }
    assert_equal %w[broker service-adapter], group['jobs'].map { |j| j['name'] }, 'broker and adapter are co-located'
    assert group['persistent_disk'] || group['persistent_disk_type'], 'the database needs a persistent disk'
    assert_equal ['bpm'], doc['addons'].flat_map { |a| a['jobs'].map { |j| j['name'] } }
    assert_equal [{ 'name' => 'broker_password', 'type' => 'password' }], doc['variables']
    refute_includes group['jobs'][0]['properties'].keys, 'database', 'sealing keys come from operations/encryption-keys.yml'
    props = group['jobs'][0]['properties']
    assert_equal '/var/vcap/packages/example-service-adapter/bin/example-service-adapter', props['service_adapter']['path'],
                 'the path the example-service-adapter package installs'
    assert_equal ['example-service-adapter'], ReleaseTest::Job.new(ReleaseTest::RELEASE_DIR, 'service-adapter').spec['packages']
  end

  # [ops files, expected director section]
  VARIANTS = [
    [[], 'bosh'],
    [['bosh-uaa-auth.yml'], 'bosh'],
    [['simulated-director.yml'], 'simulated_director'],
    [['simulated-director.yml', 'builtin-adapter.yml'], 'simulated_director'],
    [['bosh-uaa-auth.yml', 'secure-manifests.yml'], 'bosh'],
    [['secure-bindings.yml', 'encryption-keys.yml'], 'bosh'],
    [['simulated-director.yml', 'secure-bindings.yml', 'encryption-keys.yml'], 'simulated_director'],
    [['encryption-keys.yml', 'postgres.yml'], 'bosh'],
    [['bosh-uaa-auth.yml', 'postgres.yml', 'encryption-keys.yml', 'secure-manifests.yml'], 'bosh'],
    [['simulated-director.yml', 'builtin-adapter.yml', 'encryption-keys.yml', 'postgres.yml'], 'simulated_director'],
  ].freeze

  def test_every_ops_file_is_exercised
    used = VARIANTS.flat_map(&:first).uniq.sort
    assert_equal Dir.children(File.join(ReleaseTest::RELEASE_DIR, 'manifests', 'operations')).sort, used
  end

  VARIANTS.each_with_index do |(ops, director), i|
    define_method("test_manifest_variant_#{i}_renders_a_config_the_broker_accepts") do
      group, props = manifest_broker_properties(ops, manifest_vars)
      broker = group['jobs'].find { |j| j['name'] == 'broker' }
      links = broker['consumes'] ? { 'credhub' => credhub_link } : {}
      text = render('config/broker.yml', props, links: links)
      config = YAML.safe_load(text)
      assert config.key?(director), "#{ops.inspect}: #{director}"
      assert_equal 'generated-broker-password', config['broker']['password']
      if ops.include?('bosh-uaa-auth.yml')
        assert_equal({ 'uaa' => { 'client_credentials' => { 'client_id' => 'on-demand-broker', 'client_secret' => 'uaa-client-secret' } } },
                     config['bosh']['authentication'])
      end
      if ops.include?('secure-manifests.yml')
        assert_equal true, config['broker']['enable_secure_manifests']
        assert_equal 'director-credhub-secret', config['bosh_credhub']['authentication']['uaa']['client_credentials']['client_secret']
      end
      if ops.include?('secure-bindings.yml')
        assert_equal({ 'credhub' => { 'from' => 'credhub', 'deployment' => 'cf' } }, broker['consumes'])
        assert_equal 'https://credhub.service.cf.internal:8844', config['credhub']['api_url']
        assert_equal 'runtime-credhub-secret', config['credhub']['client_secret']
      end
      if ops.include?('encryption-keys.yml')
        assert_equal [{ 'label' => 'key-1', 'secret' => 'k1a0123456789abcdefgk1b0123456789abcdefg', 'primary' => true }],
                     config['database']['encryption']['keys'], 'the secret joins two 20-character passwords'
      end
      if ops.include?('postgres.yml')
        assert_equal({ 'url' => "#{manifest_vars['postgres_url']}?sslmode=verify-full&sslrootcert=#{DATABASE_CA}",
                       'encryption' => config['database']['encryption'] }, config['database'], 'no path with a url')
        assert_equal fixture_ca, render('config/database-ca.pem', props)
        assert_equal 2, group['instances']
        refute group.key?('persistent_disk'), 'nothing is kept on the VMs'
        refute YAML.safe_load(render('config/bpm.yml', props))['processes'][0].key?('persistent_disk')
      else
        assert_equal 1, group['instances'], 'one instance for a SQLite file'
      end
      if ops.include?('builtin-adapter.yml')
        assert_equal 'example', config['service_adapter']['builtin']
        assert_equal ['broker'], group['jobs'].map { |j| j['name'] }
      end
      skip_without_broker
      Dir.mktmpdir do |dir|
        out, status = check_config(localise(text, props, dir))
        assert status.success?, "check-config refused the #{ops.inspect} variant:\n#{out}"
        refute_includes out, 'warning:', out
      end
    end
  end

  def test_postgres_without_sealing_keys_is_refused_and_says_what_to_add
    _, props = manifest_broker_properties(['postgres.yml'], manifest_vars)
    error = assert_raises(RuntimeError) { render('config/broker.yml', props) }
    assert_includes error.message, 'database.encryption.keys: must be set with database.url'
    assert_includes error.message, 'operations/encryption-keys.yml'
    refute_includes error.message, POSTGRES_PASSWORD
    refute_includes error.message, manifest_vars['postgres_url']
  end

  def test_postgres_ops_file_sets_the_url_from_a_variable
    ops = YAML.safe_load(File.read(File.join(ReleaseTest::RELEASE_DIR, 'manifests', 'operations', 'postgres.yml')))
    url = ops.find { |op| op['path'].end_with?('/database?/url?') }
    assert_equal '((postgres_url))', url['value'], 'the URL holds the database password: a variable, never text'
    doc = ReleaseTest::ManifestOps.apply(YAML.safe_load(File.read(File.join(ReleaseTest::RELEASE_DIR, 'manifests', 'on-demand-broker.yml'))),
                            YAML.safe_load(File.read(File.join(ReleaseTest::RELEASE_DIR, 'manifests', 'operations', 'encryption-keys.yml'))) + ops)
    refute_includes doc['variables'].map { |v| v['name'] }, 'postgres_url', 'the operator supplies it; BOSH cannot generate it'
  end

  def test_ops_path_that_matches_nothing_fails_like_bosh
    assert_raises(ReleaseTest::ManifestOps::PathError) do
      ReleaseTest::ManifestOps.apply({ 'instance_groups' => [] }, [{ 'type' => 'remove', 'path' => '/instance_groups/name=nope' }])
    end
  end
end
