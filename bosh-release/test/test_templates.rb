# frozen_string_literal: true

require_relative 'helper'

# Rendering the broker job's templates with good and bad properties.
class TemplatesTest < Minitest::Test
  include ReleaseTest::Helpers

  TEMPLATES = ['config/broker.yml', 'config/bpm.yml', 'bin/post-start', 'bin/drain'].freeze

  def test_minimal_properties_render_with_spec_defaults
    props = fixture('minimal')
    config = YAML.safe_load(render('config/broker.yml', props))
    broker = config['broker']
    assert_equal 8080, broker['port']
    assert_equal '0.0.0.0', broker['host']
    assert_equal 'broker', broker['username']
    assert_equal 'minimal-secret', broker['password']
    assert_equal true, broker['use_stdin']
    assert_equal false, broker['enable_plan_schemas']
    assert_equal 60, broker['shutdown_timeout_in_seconds']
    assert_equal({ 'builtin' => 'example', 'timeout_seconds' => 120, 'max_output_bytes' => 4_194_304 }, config['service_adapter'])
    assert_equal({ 'path' => '/var/vcap/store/broker/broker.db' }, config['database'])
    assert_equal({ 'task_seconds' => 0 }, config['simulated_director'])
    refute config.key?('bosh')
    assert_equal [{ 'os' => 'ubuntu-jammy', 'version' => '1.404' }], config['service_deployment']['stemcells']
    catalog = config['service_catalog']
    assert_equal 'redis-example-service', catalog['id']
    assert_equal false, catalog['bindable']
    refute catalog.key?('metadata'), 'unset catalog keys are left out, not written as null'
    refute catalog.key?('dashboard_client')
    assert_equal props['service_catalog']['plans'], catalog['plans']
  end

  def test_full_properties_render_every_setting
    props = fixture('full')
    config = YAML.safe_load(render('config/broker.yml', props))
    broker = config['broker']
    assert_equal 9443, broker['port']
    assert_equal props['password'], broker['password'], 'the password survives quoting exactly'
    %w[disable_ssl_cert_verification expose_operational_errors enable_plan_schemas disable_bosh_configs
       skip_check_for_pending_changes support_backup_agent_binding].each do |flag|
      assert_equal true, broker[flag], flag
    end
    assert_equal 45, broker['shutdown_timeout_in_seconds']
    assert_equal({ 'path' => props['service_adapter']['path'], 'timeout_seconds' => 90, 'max_output_bytes' => 1_048_576 },
                 config['service_adapter'], 'mount_paths shape bpm only; the broker would warn about the key')
    bosh = config['bosh']
    assert_equal 'https://10.0.0.6:25555', bosh['url']
    assert_equal props['bosh']['root_ca_cert'], bosh['root_ca_cert']
    assert_equal({ 'uaa' => { 'client_credentials' => { 'client_id' => 'on-demand-broker', 'client_secret' => 'uaa-client-secret' } } },
                 bosh['authentication'], 'uaa client_id/client_secret are nested as the broker expects')
    refute config.key?('simulated_director')
    assert_equal 'bosh-warden-boshlite-ubuntu-jammy-go_agent', config['service_deployment']['stemcells'][0]['name']
    expected_catalog = props['service_catalog']
    assert_equal expected_catalog, config['service_catalog'], 'the catalog is passed through as written'
  end

  def test_basic_auth_is_nested_as_the_broker_expects
    props = fixture('full')
    props['bosh']['authentication'] = { 'basic' => { 'username' => 'admin', 'password' => 'director-secret' } }
    config = YAML.safe_load(render('config/broker.yml', props))
    assert_equal({ 'basic' => { 'username' => 'admin', 'password' => 'director-secret' } }, config['bosh']['authentication'])
  end

  def test_legacy_argv_mode_renders_with_the_opt_in
    props = deep_merge(fixture('minimal'), 'use_stdin' => false, 'service_adapter' => { 'allow_secrets_on_argv' => true })
    config = YAML.safe_load(render('config/broker.yml', props))
    assert_equal false, config['broker']['use_stdin']
    assert_equal true, config['service_adapter']['allow_secrets_on_argv']
  end

  def test_bpm_minimal
    bpm = YAML.safe_load(render('config/bpm.yml', fixture('minimal')))
    assert_equal 1, bpm['processes'].size
    process = bpm['processes'][0]
    assert_equal 'broker', process['name'], 'must match the monit stanza and the drain pidfile'
    assert_equal "/var/vcap/packages/on-demand-broker/bin/#{ReleaseTest::PACKAGES['on-demand-broker']}", process['executable']
    assert_equal ['serve', '--config', '/var/vcap/jobs/broker/config/broker.yml'], process['args']
    assert_equal true, process['persistent_disk'], 'the database is on the persistent disk'
    assert_equal true, process['ephemeral_disk']
    refute process.key?('env')
    refute process.key?('unsafe'), 'nothing outside the packages needs mounting'
  end

  def test_bpm_full_mounts_what_the_adapter_needs
    props = fixture('full')
    process = YAML.safe_load(render('config/bpm.yml', props))['processes'][0]
    assert_equal({ 'RUST_LOG' => 'info,on_demand_broker=debug' }, process['env'])
    volumes = process['unsafe']['unrestricted_volumes']
    assert_equal ['/var/vcap/jobs/service-adapter/config/service-adapter.conf'], volumes.map { |v| v['path'] },
                 'the adapter binary under /var/vcap/packages is visible already; mount_paths are mounted'
    volumes.each do |v|
      assert_equal false, v['writable']
      assert_equal true, v['mount_only']
    end
  end

  def test_bpm_mounts_an_adapter_outside_the_packages
    props = deep_merge(fixture('minimal'), 'service_adapter' => { 'builtin' => nil, 'path' => '/opt/adapter/bin/adapter' })
    process = YAML.safe_load(render('config/bpm.yml', props))['processes'][0]
    assert_equal [{ 'path' => '/opt/adapter/bin/adapter', 'writable' => false, 'allow_executions' => true, 'mount_only' => true }],
                 process['unsafe']['unrestricted_volumes']
  end

  def test_bpm_ephemeral_database
    props = deep_merge(fixture('minimal'), 'database' => { 'path' => '/var/vcap/data/broker/broker.db' })
    process = YAML.safe_load(render('config/bpm.yml', props))['processes'][0]
    refute process.key?('persistent_disk')
  end

  def test_secrets_appear_only_in_broker_yml
    props = fixture('full')
    secrets = [props['password'], 'uaa-client-secret']
    TEMPLATES.each do |t|
      text = render(t, props)
      secrets.each do |s|
        if t == 'config/broker.yml'
          config = YAML.safe_load(text)
          assert_includes [config['broker']['password'], config['bosh']['authentication']['uaa']['client_credentials']['client_secret']], s
        else
          refute_includes text, s, "#{t} must not contain a secret"
        end
      end
    end
    refute_includes broker_job.render_monit(props), props['password']
  end

  def test_post_start_and_drain_use_the_configured_port_and_timeouts
    props = fixture('full')
    post_start = render('bin/post-start', props)
    assert_includes post_start, 'url=http://127.0.0.1:9443/v2/catalog'
    assert_includes post_start, 'ready_url=http://127.0.0.1:9443/health/ready'
    assert_includes post_start, 'timeout=30'
    assert_includes render('bin/drain', props), 'wait_seconds=46'
    assert_includes broker_job.render_monit(props), '/var/vcap/sys/run/bpm/broker/broker.pid'
  end

  def test_rendered_scripts_are_valid_bash
    TEMPLATES.grep(%r{\Abin/}).each do |t|
      Dir.mktmpdir do |dir|
        path = File.join(dir, 'script')
        File.write(path, render(t, fixture('full')))
        out, status = Open3.capture2e('bash', '-n', path)
        assert status.success?, "#{t}: #{out}"
      end
    end
  end

  # [description, change to the minimal fixture, part of the expected message]
  BAD_INPUT = [
    ['no plans', { 'service_catalog' => { 'plans' => [] } }, 'service_catalog.plans: must list at least one plan'],
    ['both directors', { 'bosh' => { 'url' => 'https://10.0.0.6:25555' } }, 'both are set'],
    ['no director', { 'simulated_director' => { 'task_seconds' => nil } }, 'no director configured'],
    ['latest release', { 'service_deployment' => { 'releases' => [{ 'name' => 'redis', 'version' => 'latest', 'jobs' => ['r'] }] } },
     'latest and 3112.latest are not supported'],
    ['latest stemcell', { 'service_deployment' => { 'stemcells' => [{ 'os' => 'ubuntu-jammy', 'version' => '1.latest' }] } },
     'service_deployment.stemcells[0].version: You must configure the exact release and stemcell versions'],
    ['unquoted float version', { 'service_deployment' => { 'stemcells' => [{ 'os' => 'ubuntu-jammy', 'version' => 1.10 }] } },
     'quote the version'],
    ['no stemcells', { 'service_deployment' => { 'stemcells' => [] } }, 'service_deployment.stemcells: must list at least one'],
    ['no password', { 'password' => nil }, 'password: must be set'],
    ['no username', { 'username' => '' }, 'username: must be set'],
    ['colon in username', { 'username' => 'a:b' }, 'without ":"'],
    ['newline in password', { 'password' => "two\nlines" }, 'password: must be a string of printable characters'],
    ['no adapter', { 'service_adapter' => { 'builtin' => nil } }, 'set service_adapter.path'],
    ['two adapters', { 'service_adapter' => { 'path' => '/var/vcap/packages/a/bin/a' } }, 'not both'],
    ['unknown builtin', { 'service_adapter' => { 'builtin' => 'mysql' } }, 'not a built-in adapter'],
    ['relative adapter path', { 'service_adapter' => { 'builtin' => nil, 'path' => 'bin/adapter' } }, 'must be an absolute path'],
    ['database outside bpm volumes', { 'database' => { 'path' => '/tmp/broker.db' } }, 'not writable by the broker under bpm'],
    ['plan without azs', { 'service_catalog' => { 'plans' => [{ 'plan_id' => 'p', 'name' => 'p', 'description' => 'd',
                                                                'instance_groups' => [{ 'name' => 'g', 'vm_type' => 'v', 'instances' => 1, 'networks' => ['n'] }] }] } },
     'service_catalog.plans[0].instance_groups[0].azs: must list at least one'],
    ['plan without id', { 'service_catalog' => { 'plans' => [{ 'name' => 'p', 'description' => 'd', 'instance_groups' => [] }] } },
     'service_catalog.plans[0].plan_id: must be set'],
    ['nested maintenance info', { 'service_catalog' => { 'maintenance_info' => { 'public' => { 'a' => { 'b' => 'c' } } } } },
     'values must not be nested'],
    ['bad maintenance version', { 'service_catalog' => { 'maintenance_info' => { 'version' => 'v1' } } }, 'not a semantic version'],
    ['no service name', { 'service_catalog' => { 'service_name' => nil } }, 'service_catalog.service_name: must be set'],
    ['port out of range', { 'port' => 70_000 }, 'port: must be a port number'],
    ['string flag', { 'use_stdin' => 'yes' }, 'use_stdin: must be true or false'],
    ['legacy argv mode without the opt-in', { 'use_stdin' => false }, 'or accept the exposure with service_adapter.allow_secrets_on_argv: true'],
    ['string argv opt-in', { 'service_adapter' => { 'allow_secrets_on_argv' => 'yes' } }, 'service_adapter.allow_secrets_on_argv: must be true or false'],
    ['negative task seconds', { 'simulated_director' => { 'task_seconds' => -1 } }, 'simulated_director.task_seconds: must be a number'],
  ].freeze

  BAD_INPUT.each_with_index do |(what, change, message), i|
    define_method("test_bad_input_#{i}_#{what.tr(' ', '_')}") do
      props = deep_merge(fixture('minimal'), change)
      error = assert_raises(RuntimeError) { render('config/broker.yml', props) }
      assert_includes error.message, message
      assert error.message.start_with?('Invalid properties for the broker job:'), error.message
    end
  end

  BAD_BOSH = [
    ['both auth kinds', { 'basic' => { 'username' => 'a', 'password' => 'b' } }, 'cannot specify both basic and UAA'],
    ['uaa without secret', { 'uaa' => { 'client_secret' => nil } }, 'bosh.authentication.uaa.client_secret: must be set'],
  ].freeze

  BAD_BOSH.each_with_index do |(what, auth_change, message), i|
    define_method("test_bad_bosh_#{i}_#{what.tr(' ', '_')}") do
      props = deep_merge(fixture('full'), 'bosh' => { 'authentication' => auth_change })
      error = assert_raises(RuntimeError) { render('config/broker.yml', props) }
      assert_includes error.message, message
    end
  end

  def test_bosh_without_authentication
    props = fixture('full')
    props['bosh'].delete('authentication')
    error = assert_raises(RuntimeError) { render('config/broker.yml', props) }
    assert_includes error.message, 'bosh.authentication: must specify an authentication type'
  end

  def test_every_problem_is_reported_at_once
    props = deep_merge(fixture('minimal'), 'password' => nil, 'service_catalog' => { 'plans' => [] })
    error = assert_raises(RuntimeError) { render('config/broker.yml', props) }
    assert_includes error.message, 'password: must be set'
    assert_includes error.message, 'service_catalog.plans: must list'
  end

  def test_undeclared_property_is_refused_like_bosh_would_drop_it
    props = deep_merge(fixture('minimal'), 'service_adapter' => { 'timeout' => 5 })
    error = assert_raises(ReleaseTest::UndeclaredProperty) { render('config/broker.yml', props) }
    assert_includes error.message, 'service_adapter.timeout'
  end
end
