# frozen_string_literal: true

require_relative 'helper'

# Rendering the broker job's templates with good and bad properties.
class TemplatesTest < Minitest::Test
  include ReleaseTest::Helpers

  TEMPLATES = ['config/broker.yml', 'config/bpm.yml', 'config/database-ca.pem', 'bin/post-start', 'bin/drain'].freeze

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
    assert_equal false, broker['enable_secure_manifests']
    refute config.key?('bosh_credhub'), 'no director CredHub unless bosh_credhub_api.* is set'
    refute config.key?('credhub'), 'no runtime CredHub unless secure_binding_credentials.enabled'
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
    assert_equal true, broker['enable_secure_manifests']
    assert_equal({ 'url' => 'https://10.0.0.6:8844', 'root_ca_cert' => props['bosh']['root_ca_cert'],
                   'authentication' => { 'uaa' => { 'client_credentials' => { 'client_id' => 'director-credhub-client',
                                                                               'client_secret' => 'director-credhub-client-secret' } } } },
                 config['bosh_credhub'], 'bosh_credhub_api is rendered under the broker\'s key, bosh_credhub')
    assert_equal({ 'api_url' => 'https://credhub.service.cf.internal:8844', 'ca_cert' => props['bosh']['root_ca_cert'],
                   'client_id' => 'broker-credhub-client', 'client_secret' => 'runtime-credhub-client-secret',
                   'internal_uaa_ca_cert' => props['bosh']['root_ca_cert'] },
                 config['credhub'], 'secure_binding_credentials is rendered as the broker\'s credhub section')
    assert_equal({ 'keys' => props['database']['encryption']['keys'] }, config['database']['encryption'],
                 'the key secrets survive quoting exactly')
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

  # Every secret of the full fixture, and where the broker reads it in broker.yml.
  def full_secrets(props)
    {
      props['password'] => %w[broker password],
      'uaa-client-secret' => %w[bosh authentication uaa client_credentials client_secret],
      'director-credhub-client-secret' => %w[bosh_credhub authentication uaa client_credentials client_secret],
      'runtime-credhub-client-secret' => %w[credhub client_secret],
      props['database']['encryption']['keys'][0]['secret'] => ['database', 'encryption', 'keys', 0, 'secret'],
      props['database']['encryption']['keys'][1]['secret'] => ['database', 'encryption', 'keys', 1, 'secret']
    }
  end

  def test_secrets_appear_only_in_broker_yml
    props = fixture('full')
    secrets = full_secrets(props)
    TEMPLATES.each do |t|
      text = render(t, props)
      secrets.each do |s, where|
        if t == 'config/broker.yml'
          assert_equal s, YAML.safe_load(text).dig(*where), where.join('.')
        else
          refute_includes text, s, "#{t} must not contain a secret"
        end
      end
    end
    monit = broker_job.render_monit(props)
    secrets.each_key { |s| refute_includes monit, s }
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

  def test_secure_manifests_with_the_simulated_director_need_no_credhub
    config = YAML.safe_load(render('config/broker.yml', deep_merge(fixture('minimal'), 'enable_secure_manifests' => true)))
    assert_equal true, config['broker']['enable_secure_manifests']
    refute config.key?('bosh_credhub'), 'the simulated director keeps secure-manifest secrets itself'
  end

  def test_bosh_credhub_api_without_a_ca_uses_the_system_roots_and_drops_a_trailing_slash
    props = fixture('full')
    props['bosh_credhub_api'].delete('root_ca_cert')
    props['bosh_credhub_api']['url'] = 'https://10.0.0.6:8844/'
    config = YAML.safe_load(render('config/broker.yml', props))
    assert_equal 'https://10.0.0.6:8844', config['bosh_credhub']['url']
    refute config['bosh_credhub'].key?('root_ca_cert')
  end

  def test_secure_bindings_from_the_credhub_link
    config = YAML.safe_load(render('config/broker.yml', secure_bindings, links: { 'credhub' => credhub_link }))
    assert_equal({ 'api_url' => 'https://credhub.service.cf.internal:8844', 'ca_cert' => fixture_ca,
                   'client_id' => 'broker-credhub-client', 'client_secret' => 'runtime-credhub-client-secret' },
                 config['credhub'], 'the link gives the address (https:// added, port appended) and the CA')
  end

  def test_a_credhub_link_url_with_scheme_and_port_is_kept
    link = credhub_link('internal_url' => 'https://credhub.example.com:9000', 'ca_certificate' => [fixture_ca, fixture_ca])
    config = YAML.safe_load(render('config/broker.yml', secure_bindings, links: { 'credhub' => link }))
    assert_equal 'https://credhub.example.com:9000', config['credhub']['api_url']
    assert_equal "#{fixture_ca}\n#{fixture_ca}", config['credhub']['ca_cert'], 'a list of CA certificates is joined'
  end

  def test_secure_binding_properties_win_over_the_link
    props = secure_bindings('secure_binding_credentials' => { 'credhub' => { 'url' => 'https://credhub.internal:8844' },
                                                              'authentication' => { 'uaa' => { 'ca_cert' => fixture_ca } } })
    config = YAML.safe_load(render('config/broker.yml', props, links: { 'credhub' => credhub_link }))
    assert_equal 'https://credhub.internal:8844', config['credhub']['api_url']
    refute config['credhub'].key?('ca_cert'), 'the link\'s CA belongs to the link\'s address'
    assert_equal fixture_ca, config['credhub']['internal_uaa_ca_cert']
  end

  def test_secure_binding_properties_are_ignored_while_disabled
    props = secure_bindings('secure_binding_credentials' => { 'enabled' => false, 'authentication' => { 'uaa' => { 'client_secret' => nil } } })
    config = YAML.safe_load(render('config/broker.yml', props, links: { 'credhub' => credhub_link }))
    refute config.key?('credhub')
  end

  def test_an_encryption_key_without_primary_is_not_primary
    keys = [{ 'label' => 'new', 'secret' => 'n' * 32, 'primary' => true }, { 'label' => 'old', 'secret' => 'o' * 40 }]
    config = YAML.safe_load(render('config/broker.yml', deep_merge(fixture('minimal'), 'database' => { 'encryption' => { 'keys' => keys } })))
    assert_equal [{ 'label' => 'new', 'secret' => 'n' * 32, 'primary' => true }, { 'label' => 'old', 'secret' => 'o' * 40, 'primary' => false }],
                 config['database']['encryption']['keys']
    assert_equal '/var/vcap/store/broker/broker.db', config['database']['path']
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
    ['string secure manifests flag', { 'enable_secure_manifests' => 'yes' }, 'enable_secure_manifests: must be true or false'],
    ['secure manifests in legacy argv mode', { 'enable_secure_manifests' => true, 'use_stdin' => false, 'service_adapter' => { 'allow_secrets_on_argv' => true } },
     'enable_secure_manifests: needs use_stdin: true'],
    ['director credhub with the simulated director', { 'bosh_credhub_api' => { 'url' => 'https://10.0.0.6:8844' } },
     "bosh_credhub_api: is the director's CredHub, but simulated_director is configured"],
    ['string secure bindings flag', { 'secure_binding_credentials' => { 'enabled' => 'true' } }, 'secure_binding_credentials.enabled: must be true or false'],
    ['secure bindings without a credhub', { 'secure_binding_credentials' => { 'enabled' => true } },
     'secure_binding_credentials.enabled: no runtime CredHub; consume the credhub link'],
    ['empty key list', { 'database' => { 'encryption' => { 'keys' => [] } } }, 'database.encryption.keys: must list at least one key'],
    ['key list not a list', { 'database' => { 'encryption' => { 'keys' => { 'label' => 'k' } } } }, 'database.encryption.keys: must list at least one key'],
    ['key not a mapping', { 'database' => { 'encryption' => { 'keys' => ['k'] } } }, 'database.encryption.keys[0]: must be a mapping'],
  ].freeze

  BAD_INPUT.each_with_index do |(what, change, message), i|
    define_method("test_bad_input_#{i}_#{what.tr(' ', '_')}") do
      props = deep_merge(fixture('minimal'), change)
      error = assert_raises(RuntimeError) { render('config/broker.yml', props) }
      assert_includes error.message, message
      assert error.message.start_with?('Invalid properties for the broker job:'), error.message
    end
  end

  GOOD_KEY = { 'label' => 'key-1', 'secret' => 'good-key-secret-0123456789abcdef0123', 'primary' => true }.freeze
  # Bad input around the CredHub and sealing-key properties: [description, base ('full',
  # 'bindings' = minimal with secure bindings, or 'minimal' with `change` as
  # database.encryption), change (a Proc edits the fixture), part of the expected message,
  # credhub link (true, or link properties to change)]. No message may show a secret.
  BAD_SECRETS = [
    ['secure manifests on a director without its credhub', 'full', ->(props) { props.delete('bosh_credhub_api') },
     "enable_secure_manifests: with a BOSH director needs the director's CredHub"],
    ['director credhub without url', 'full', { 'bosh_credhub_api' => { 'url' => nil } }, 'bosh_credhub_api.url: must be set'],
    ['director credhub url not a url', 'full', { 'bosh_credhub_api' => { 'url' => '10.0.0.6:8844' } }, 'bosh_credhub_api.url: "10.0.0.6:8844" is not a URL'],
    ['director credhub without client id', 'full', { 'bosh_credhub_api' => { 'authentication' => { 'uaa' => { 'client_credentials' => { 'client_id' => '' } } } } },
     'bosh_credhub_api.authentication.uaa.client_credentials.client_id: must be set'],
    ['director credhub without client secret', 'full', { 'bosh_credhub_api' => { 'authentication' => { 'uaa' => { 'client_credentials' => { 'client_secret' => nil } } } } },
     'bosh_credhub_api.authentication.uaa.client_credentials.client_secret: must be set'],
    ['director credhub secret from the environment', 'full',
     { 'bosh_credhub_api' => { 'authentication' => { 'uaa' => { 'client_credentials' => { 'client_secret' => '${CREDHUB_SECRET}' } } } } },
     'client_secret: a value of the form ${NAME} would be read from the broker\'s environment'],
    ['director credhub ca not pem', 'full', { 'bosh_credhub_api' => { 'root_ca_cert' => 'not a certificate' } },
     'bosh_credhub_api.root_ca_cert: must be a PEM certificate'],
    ['runtime credhub url not a url', 'bindings', { 'secure_binding_credentials' => { 'credhub' => { 'url' => 'credhub:8844' } } },
     'secure_binding_credentials.credhub.url: "credhub:8844" is not a URL'],
    ['runtime credhub ca not pem', 'bindings', { 'secure_binding_credentials' => { 'credhub' => { 'url' => 'https://c:8844', 'ca_cert' => 'x' } } },
     'secure_binding_credentials.credhub.ca_cert: must be a PEM certificate'],
    ['runtime credhub without client secret', 'bindings', { 'secure_binding_credentials' => { 'authentication' => { 'uaa' => { 'client_secret' => nil } } } },
     'secure_binding_credentials.authentication.uaa.client_secret: must be set', true],
    ['runtime credhub without client id', 'bindings', { 'secure_binding_credentials' => { 'authentication' => { 'uaa' => { 'client_id' => nil } } } },
     'secure_binding_credentials.authentication.uaa.client_id: must be set', true],
    ['runtime credhub client secret not a string', 'bindings', { 'secure_binding_credentials' => { 'authentication' => { 'uaa' => { 'client_secret' => 12_345 } } } },
     'secure_binding_credentials.authentication.uaa.client_secret: must be a string', true],
    ['uaa ca not pem', 'bindings', { 'secure_binding_credentials' => { 'authentication' => { 'uaa' => { 'ca_cert' => 'x' } } } },
     'secure_binding_credentials.authentication.uaa.ca_cert: must be a PEM certificate', true],
    ['credhub link without internal url', 'bindings', {}, 'the credhub link has no credhub.internal_url', { 'internal_url' => '' }],
    ['credhub link ca not pem', 'bindings', {}, "the credhub link's credhub.ca_certificate: must be a PEM certificate", { 'ca_certificate' => 'x' }],
    ['no primary key', 'minimal', { 'keys' => [GOOD_KEY.merge('primary' => false)] }, 'database.encryption.keys: has no primary key'],
    ['two primary keys', 'minimal', { 'keys' => [GOOD_KEY, GOOD_KEY.merge('label' => 'key-2', 'secret' => 'second-key-secret-0123456789abcdef')] },
     'database.encryption.keys: has 2 primary keys; set primary: true on exactly one key'],
    ['short key secret', 'minimal', { 'keys' => [GOOD_KEY.merge('secret' => 'short-key-secret')] },
     'database.encryption.keys[0].secret: is 16 bytes long; a key needs at least 32 random bytes'],
    ['31-byte key secret', 'minimal', { 'keys' => [GOOD_KEY.merge('secret' => 'k' * 31)] }, 'database.encryption.keys[0].secret: is 31 bytes long'],
    ['missing key secret', 'minimal', { 'keys' => [GOOD_KEY.merge('secret' => nil)] }, 'database.encryption.keys[0].secret: must be set'],
    ['number key secret', 'minimal', { 'keys' => [GOOD_KEY.merge('secret' => 12_345_678_901_234_567_890_123_456_789_012_345)] },
     'database.encryption.keys[0].secret: must be a string'],
    ['key secret from the environment', 'minimal', { 'keys' => [GOOD_KEY.merge('secret' => '${DATABASE_KEY_SECRET_0123456789abcdef}')] },
     'database.encryption.keys[0].secret: a value of the form ${NAME} would be read from the broker\'s environment'],
    ['duplicate key label', 'minimal', { 'keys' => [GOOD_KEY, GOOD_KEY.merge('primary' => false, 'secret' => 'other-key-secret-0123456789abcdef')] },
     'database.encryption.keys[1].label: "key-1" is the label of an earlier key too'],
    ['bad key label', 'minimal', { 'keys' => [GOOD_KEY.merge('label' => 'key one')] }, "database.encryption.keys[0].label: must be 1 to 64 letters, digits, '.', '_' or '-'"],
    ['long key label', 'minimal', { 'keys' => [GOOD_KEY.merge('label' => 'k' * 65)] }, 'database.encryption.keys[0].label: must be 1 to 64'],
    ['missing key label', 'minimal', { 'keys' => [GOOD_KEY.merge('label' => nil)] }, 'database.encryption.keys[0].label: must be set'],
    ['number key label', 'minimal', { 'keys' => [GOOD_KEY.merge('label' => 2025)] }, 'database.encryption.keys[0].label: must be a string'],
    ['string primary', 'minimal', { 'keys' => [GOOD_KEY.merge('primary' => 'yes')] }, 'database.encryption.keys[0].primary: must be true or false'],
    ['misspelt key setting', 'minimal', { 'keys' => [GOOD_KEY.merge('primay' => true)] }, 'database.encryption.keys[0].primay: is not a setting of a key'],
  ].freeze

  # Every string under a secret-looking key of the input (secret, client_secret, password).
  def input_secrets(node)
    case node
    when Hash then node.flat_map { |k, v| %w[secret client_secret password].include?(k) && v.is_a?(String) ? [v] : input_secrets(v) }
    when Array then node.flat_map { |v| input_secrets(v) }
    else []
    end
  end

  BAD_SECRETS.each_with_index do |(what, base, change, message, link), i|
    define_method("test_bad_secret_input_#{i}_#{what.tr(' -', '__')}") do
      props = case base
              when 'full' then change.is_a?(Proc) ? fixture('full').tap(&change) : deep_merge(fixture('full'), change)
              when 'bindings' then secure_bindings(change)
              else deep_merge(fixture('minimal'), 'database' => { 'encryption' => change })
              end
      links = link ? { 'credhub' => credhub_link(link.is_a?(Hash) ? link : {}) } : {}
      error = assert_raises(RuntimeError) { render('config/broker.yml', props, links: links) }
      assert_includes error.message, message
      assert error.message.start_with?('Invalid properties for the broker job:'), error.message
      secrets = input_secrets(props)
      refute_empty secrets
      secrets.each { |s| refute_includes error.message, s, 'a message must not show a secret' }
      error.message.lines.drop(1).each { |line| assert_match(/\A  - [^\n]+\n?\z/, line, 'one line per problem') }
    end
  end

  def test_a_key_secret_is_never_shown_even_among_many_problems
    keys = [{ 'label' => 'a b', 'secret' => 'tiny', 'primary' => 'no', 'extra' => 1 }, { 'secret' => '${K}' }, { 'label' => 'c', 'secret' => 'short-but-secret' }]
    props = deep_merge(fixture('full'), 'database' => { 'encryption' => { 'keys' => keys } },
                                        'bosh_credhub_api' => { 'url' => 'nope' }, 'secure_binding_credentials' => { 'credhub' => { 'url' => 'nope' } })
    error = assert_raises(RuntimeError) { render('config/broker.yml', props) }
    assert_operator error.message.lines.size, :>=, 8
    (input_secrets(props) + %w[tiny K short-but-secret]).each { |s| refute_includes error.message, s }
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
