# frozen_string_literal: true

require_relative 'helper'

# database.url (a PostgreSQL database every instance shares), database.root_ca_cert,
# database.sslmode and operation_lease_millis: what the templates render, what they refuse
# (never showing the URL, which holds a password), that no template depends on which
# instance it is rendered for, and that check-config accepts what they render.
class DatabaseTest < Minitest::Test
  include ReleaseTest::Helpers

  URL = ReleaseTest::Helpers::POSTGRES_URL
  PASSWORD = ReleaseTest::Helpers::POSTGRES_PASSWORD
  CA_PATH = ReleaseTest::Helpers::DATABASE_CA
  ALL_TEMPLATES = ['config/broker.yml', 'config/bpm.yml', 'config/database-ca.pem', 'bin/post-start', 'bin/drain'].freeze

  def config_for(props)
    YAML.safe_load(render('config/broker.yml', props))
  end

  def test_a_url_is_rendered_as_written_without_a_path
    config = config_for(postgres)
    assert_equal({ 'url' => URL, 'encryption' => ReleaseTest::Helpers::SEALING_KEYS }, config['database'])
    assert_equal '', render('config/database-ca.pem', postgres), 'no CA: the file is empty'
    refute config['broker'].key?('operation_lease_millis'), "unset: the broker's default"
  end

  def test_postgresql_scheme_and_url_options_are_kept
    url = 'postgresql://odb:pw%40x@db1.example.com:6432/broker?connect_timeout=5&sslmode=require&application_name=odb'
    assert_equal url, config_for(postgres('url' => url))['database']['url']
  end

  def test_a_ca_is_written_to_the_config_dir_and_checked_with_verify_full
    props = postgres('root_ca_cert' => fixture_ca)
    assert_equal "#{URL}?sslmode=verify-full&sslrootcert=#{CA_PATH}", config_for(props)['database']['url']
    assert_equal fixture_ca, render('config/database-ca.pem', props)
    assert_equal 'config/database-ca.pem', broker_job.spec['templates']['database-ca.pem.erb'],
                 'under the job directory, which bpm mounts for the broker'
  end

  def test_a_list_of_cas_is_joined
    props = postgres('root_ca_cert' => [fixture_ca.chomp, fixture_ca.chomp])
    assert_equal "#{fixture_ca}#{fixture_ca}", render('config/database-ca.pem', props)
  end

  def test_sslmode_with_a_ca_comes_from_the_property_else_the_url
    props = postgres('root_ca_cert' => fixture_ca, 'sslmode' => 'verify-ca')
    assert_equal "#{URL}?sslmode=verify-ca&sslrootcert=#{CA_PATH}", config_for(props)['database']['url']
    props = postgres('url' => "#{URL}?connect_timeout=5&sslmode=require", 'root_ca_cert' => fixture_ca)
    assert_equal "#{URL}?connect_timeout=5&sslmode=require&sslrootcert=#{CA_PATH}", config_for(props)['database']['url']
    props = postgres('url' => "#{URL}?sslmode=verify-ca", 'root_ca_cert' => fixture_ca, 'sslmode' => 'verify-ca')
    assert_equal "#{URL}?sslmode=verify-ca&sslrootcert=#{CA_PATH}", config_for(props)['database']['url'], 'the same mode twice is fine'
  end

  def test_sslmode_without_a_ca
    assert_equal "#{URL}?sslmode=disable", config_for(postgres('sslmode' => 'disable'))['database']['url']
    assert_equal "#{URL}?sslmode=require", config_for(postgres('sslmode' => 'require'))['database']['url']
    assert_equal "#{URL}?sslmode=prefer", config_for(postgres('url' => "#{URL}?sslmode=prefer"))['database']['url']
  end

  def test_operation_lease_is_rendered_when_set
    props = deep_merge(postgres, 'operation_lease_millis' => 30_000)
    assert_equal 30_000, config_for(props)['broker']['operation_lease_millis']
  end

  def test_empty_url_means_sqlite
    config = config_for(deep_merge(fixture('minimal'), 'database' => { 'url' => '' }))
    assert_equal({ 'path' => '/var/vcap/store/broker/broker.db' }, config['database'])
  end

  def test_bpm_mounts_no_persistent_disk_for_a_url
    process = YAML.safe_load(render('config/bpm.yml', postgres))['processes'][0]
    refute process.key?('persistent_disk'), 'nothing is kept on the VM'
    assert_equal true, process['ephemeral_disk']
    sqlite = YAML.safe_load(render('config/bpm.yml', fixture('minimal')))['processes'][0]
    assert_equal true, sqlite['persistent_disk']
  end

  def test_the_url_and_its_password_appear_only_in_broker_yml
    props = deep_merge(postgres('root_ca_cert' => fixture_ca), 'operation_lease_millis' => 30_000)
    ALL_TEMPLATES.each do |t|
      text = render(t, props)
      if t == 'config/broker.yml'
        assert_includes text, PASSWORD
      else
        refute_includes text, PASSWORD, "#{t} must not contain the database password"
      end
    end
    refute_includes broker_job.render_monit(props), PASSWORD
  end

  # Several instances: every file is the same on every instance, and nothing waits for or
  # refers to a particular one.
  def test_every_instance_renders_the_same_files
    props = deep_merge(postgres('root_ca_cert' => fixture_ca), 'operation_lease_millis' => 30_000)
    other = { 'index' => 1, 'id' => 'b1c1d1e1-0000-4000-8000-000000000002', 'bootstrap' => false,
              'address' => '10.0.0.11', 'ip' => '10.0.0.11', 'az' => 'z2' }
    ALL_TEMPLATES.each do |t|
      assert_equal render(t, props), broker_job.render(t, props, instance: other), t
    end
    assert_equal broker_job.render_monit(props), broker_job.render_monit(props, instance: other)
    Dir.glob(File.join(broker_job.dir, '{monit,templates/*}')).each do |f|
      refute File.read(f).match?(/\bspec\.(index|bootstrap|id|address|ip|az)\b/), "#{File.basename(f)} depends on the instance"
    end
  end

  # [description, database properties on top of postgres (nil removes), part of the expected
  # message, other changes to the minimal fixture]
  BAD_DATABASE = [
    ['url and path', { 'path' => '/var/vcap/store/broker/broker.db' }, 'database: has both path and url'],
    ['url without sealing keys', { 'encryption' => nil }, 'database.encryption.keys: must be set with database.url'],
    ['url with an empty key list', { 'encryption' => { 'keys' => [] } }, 'database.encryption.keys: must list at least one key ({label, secret, primary: true})'],
    ['mysql url', { 'url' => "mysql://odb:#{PASSWORD}@db.example.com/broker" }, 'database.url: must start with postgres:// or postgresql://'],
    ['url without a scheme', { 'url' => "odb:#{PASSWORD}@db.example.com/broker" }, 'database.url: must start with postgres://'],
    ['url from the environment', { 'url' => '${DATABASE_URL}' }, 'database.url: a value of the form ${NAME} would be read'],
    ['url not a string', { 'url' => ['postgres://a'] }, 'database.url: must be a string'],
    ['url with a space', { 'url' => "postgres://odb:#{PASSWORD} x@db.example.com/broker" }, 'database.url: must not contain spaces'],
    ['url with a line break', { 'url' => "#{URL}\n" }, 'database.url: must not contain spaces, line breaks'],
    ['url with sslrootcert', { 'url' => "#{URL}?sslrootcert=/etc/ssl/ca.pem" }, 'database.url: has sslrootcert'],
    ['url with a bad sslmode', { 'url' => "#{URL}?sslmode=#{PASSWORD}" }, 'database.url: its sslmode is not one of disable, allow, prefer, require, verify-ca, verify-full'],
    ['bad sslmode property', { 'sslmode' => 'strict' }, 'database.sslmode: must be one of disable, allow, prefer, require, verify-ca, verify-full, got "strict"'],
    ['sslmode in two places', { 'url' => "#{URL}?sslmode=require", 'sslmode' => 'verify-full', 'root_ca_cert' => :ca },
     'database.sslmode: differs from the sslmode in database.url'],
    ['verify-full without a ca', { 'sslmode' => 'verify-full' }, 'database.sslmode: verify-full checks the server\'s certificate, which needs database.root_ca_cert'],
    ['verify-ca in the url without a ca', { 'url' => "#{URL}?sslmode=verify-ca" },
     'the sslmode in database.url: verify-ca checks the server\'s certificate, which needs database.root_ca_cert'],
    ['a ca with sslmode disable', { 'sslmode' => 'disable', 'root_ca_cert' => :ca }, 'database.root_ca_cert: is not used with sslmode disable (database.sslmode)'],
    ['a ca with prefer in the url', { 'url' => "#{URL}?sslmode=prefer", 'root_ca_cert' => :ca },
     'database.root_ca_cert: is not used with sslmode prefer (the sslmode in database.url)'],
    ['a ca that is not pem', { 'root_ca_cert' => 'not a certificate' }, 'database.root_ca_cert: must be a PEM certificate'],
    ['a ca without a url', { 'url' => nil, 'root_ca_cert' => :ca }, 'database.root_ca_cert and database.sslmode: apply to database.url only'],
    ['sslmode without a url', { 'url' => nil, 'sslmode' => 'require' }, 'apply to database.url only'],
    ['lease too short', {}, 'operation_lease_millis: must be a whole number of milliseconds, at least 300, got 100', { 'operation_lease_millis' => 100 }],
    ['lease not a number', {}, 'operation_lease_millis: must be a whole number of milliseconds', { 'operation_lease_millis' => '15s' }],
  ].freeze

  BAD_DATABASE.each_with_index do |(what, database, message, other), i|
    define_method("test_bad_database_#{i}_#{what.tr(' -', '__')}") do
      database = database.transform_values { |v| v == :ca ? fixture_ca : v }
      props = deep_merge(postgres(database), other || {})
      props['database'] = props['database'].reject { |_, v| v.nil? }
      error = assert_raises(RuntimeError) { render('config/broker.yml', props) }
      assert error.message.start_with?('Invalid properties for the broker job:'), error.message
      assert_includes error.message, message
      refute_includes error.message, PASSWORD, 'a message never shows the database password'
      refute_includes error.message, 'db.example.com', 'nor any other part of the URL'
      refute_includes error.message, 'odb:', 'nor its user'
      error.message.lines.drop(1).each { |line| assert_match(/\A  - [^\n]+\n?\z/, line, 'one line per problem') }
    end
  end

  def test_an_empty_key_list_with_a_url_does_not_suggest_the_key_file
    error = assert_raises(RuntimeError) { render('config/broker.yml', postgres('encryption' => { 'keys' => [] })) }
    refute_includes error.message, 'key file', 'a shared database has no file beside it'
  end

  def test_every_database_problem_is_reported_at_once
    props = deep_merge(postgres('url' => "mysql://odb:#{PASSWORD}@db.example.com/broker", 'path' => '/tmp/x.db',
                                'encryption' => nil, 'sslmode' => 'verify-full'), 'operation_lease_millis' => -1)
    props['database'].delete('encryption')
    error = assert_raises(RuntimeError) { render('config/broker.yml', props) }
    ['database.url: must start with', 'database: has both path and url', 'database.encryption.keys: must be set',
     'database.sslmode: verify-full checks', 'operation_lease_millis: must be'].each { |m| assert_includes error.message, m }
    refute_includes error.message, PASSWORD
  end

  # --- against the broker: check-config parses the URL (it does not connect) and reads sslrootcert ---

  def check(props)
    Dir.mktmpdir do |dir|
      text = localise(render('config/broker.yml', props), props, dir)
      refute_includes text, CA_PATH, 'the CA path is pointed at the rendered file'
      out, status = check_config(text)
      yield out, status, text
    end
  end

  [
    ['a plain url', {}],
    ['a ca (verify-full)', { 'root_ca_cert' => :ca }],
    ['a ca and verify-ca', { 'root_ca_cert' => :ca, 'sslmode' => 'verify-ca' }],
    ['a ca and require in the url', { 'url' => "#{URL}?sslmode=require&connect_timeout=5", 'root_ca_cert' => :ca }],
    ['sslmode disable', { 'sslmode' => 'disable' }],
    ['the postgresql scheme', { 'url' => 'postgresql://odb:pw%2F1@db.example.com/broker' }],
  ].each_with_index do |(what, database), i|
    define_method("test_check_config_accepts_#{i}_#{what.tr(' ()-', '____')}") do
      skip_without_broker
      database = database.transform_values { |v| v == :ca ? fixture_ca : v }
      props = deep_merge(postgres(database), 'operation_lease_millis' => 20_000)
      check(props) do |out, status, _|
        assert status.success?, "check-config refused the rendering with #{what}:\n#{out}"
        refute_includes out, 'warning:', out
        refute_includes out, PASSWORD
      end
    end
  end

  def test_check_config_and_the_template_agree_that_a_url_needs_keys
    skip_without_broker
    check(postgres) do |_, status, text|
      assert status.success?
      without_keys = YAML.safe_load(text)
      without_keys['database'].delete('encryption')
      out, status = check_config(without_keys.to_yaml)
      refute status.success?, 'the broker refuses a url without keys, as the template does'
      assert_includes out, 'database.encryption.keys'
      refute_includes out, PASSWORD
    end
  end

  def test_check_config_reads_the_rendered_ca
    skip_without_broker
    check(postgres('root_ca_cert' => fixture_ca)) do |_, status, text|
      assert status.success?
      ca = text[/sslrootcert=(\S+)/, 1]
      File.write(ca, "not a certificate\n")
      out, status = check_config(text)
      refute status.success?, 'sslrootcert is read, so the rendered file must hold the CA'
      assert_includes out, 'sslrootcert'
      refute_includes out, PASSWORD
    end
  end
end
